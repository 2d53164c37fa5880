"""Batch inference on a generated video: one CSV row per frame, faces found, bad frames flagged; the
CSV read as an OpenFace user reads OpenFace's; the Python API and its README snippet."""

import dataclasses
import os
import re
import subprocess
import sys
import types

import cv2
import numpy as np
import pandas as pd
import pytest

from jaxau import inference
from jaxau.train import estimator
from tests.data.fixtures import corrupt_avi_frame

ROOT = __file__.rsplit("/tests/", 1)[0]
CFG = {"width": 1 / 16, "image_size": 32, "batch_size": 8, "num_steps": 4, "learning_rate": 1e-3,
       "dropout": 0.0, "freeze": "", "pretrained": "", "readout": "argmax", "flip": False,
       "checkpoint_every": 4, "log_every": 2, "eval_every": 0}


@pytest.fixture(scope="module")
def faces():
    """Three frontal SynthFACS renders (128 px, no supersampling, for speed)."""
    from jaxau.face import synth

    config = dataclasses.replace(synth.get_config("disfa_small"), supersample=1, batch_size=3)
    return np.stack([e["image"] for _, e in synth.generate_examples(config, "test", subjects=[0],
                                                                      max_frames_per_subject=3)])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, faces):
    """A tiny estimator (the numbers are irrelevant: the test is about frames, rows and flags)."""
    d = str(tmp_path_factory.mktemp("model"))
    small = np.stack([cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in faces] * 3)[:8]
    n = len(small)
    frames = {"image": small, "au_intensity": np.arange(n * 2, dtype=np.int32).reshape(n, 2) % 6,
              "subject": np.asarray(["s"] * n), "sequence": np.asarray(["q"] * n),
              "frame": np.arange(n, dtype=np.int32), "pose_id": np.zeros(n, np.int32),
              "au_names": np.asarray(["AU01", "AU12"])}
    estimator.train(CFG, d, frames)
    return d


def _write_video(path, images):
    h, w = images[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for im in images:
        out.write(cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    out.release()


def read_openface_csv(path):
    """How OpenFace users read FeatureExtraction's CSV (", " separators)."""
    return pd.read_csv(path, skipinitialspace=True)


def openface_columns(au_r, au_c, landmarks=68, eye_landmarks=56, model_modes=34):
    """OpenFace 2's full FeatureExtraction column order, written out from its wiki ("Output Format",
    https://github.com/TadasBaltrusaitis/OpenFace/wiki/Output-Format) and RecorderCSV.cpp."""
    cols = ["frame", "face_id", "timestamp", "confidence", "success"]
    cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    cols += [f"eye_lmk_{c}_{i}" for c in ("x", "y", "X", "Y", "Z") for i in range(eye_landmarks)]
    cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    cols += [f"{c}_{i}" for c in ("x", "y", "X", "Y", "Z") for i in range(landmarks)]
    cols += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(model_modes)]
    return cols + [f"{a}_r" for a in sorted(au_r)] + [f"{a}_c" for a in sorted(au_c)]


def is_subsequence(sub, full):
    it = iter(full)
    return all(c in it for c in sub)


@pytest.fixture(scope="module")
def detector(model_dir):
    return inference.Detector(model_dir, batch_size=4)


def test_video_rows_and_success_flags(tmp_path, faces, model_dir):
    blank = np.full_like(faces[0], 90)
    # Frames: face, face, blank (no face), face [to be corrupted], face.
    video = tmp_path / "clip.avi"
    _write_video(video, [faces[0], faces[1], blank, faces[2], faces[0]])
    corrupt_avi_frame(video, 3)
    out = tmp_path / "aus.csv"
    summary = inference.predict_to_csv(str(video), str(out), model_dir, batch_size=4)
    table = read_openface_csv(out)
    assert table["frame"].tolist() == [1, 2, 3, 4, 5]
    assert table["success"].tolist() == [1, 1, 0, 0, 1]
    assert table["timestamp"].tolist()[1] == pytest.approx(0.1)
    assert summary == {**summary, "frames": 5, "success": 3, "no_face": 1, "unreadable": 1}
    # Failed rows: every measurement 0, never a negative zero or a NaN.
    failed = table[table.success == 0].drop(columns=["frame", "face_id", "timestamp", "input"])
    assert (failed.to_numpy() == 0).all()
    text = out.read_text()
    assert "-0.0" not in text and "nan" not in text.lower()


def test_csv_is_openface_layout(tmp_path, faces, model_dir):
    video = tmp_path / "clip.avi"
    _write_video(video, [faces[0], faces[1]])
    out = tmp_path / "aus.csv"
    inference.predict_to_csv(str(video), str(out), model_dir, batch_size=4)
    header, first = out.read_text().splitlines()[:2]
    # OpenFace writes ", " between fields, in the header and in every row.
    assert header.startswith("frame, face_id, timestamp, confidence, success, ")
    assert len(first.split(", ")) == len(header.split(", "))
    table = read_openface_csv(out)
    cols = list(table.columns)
    # An unregistered (face-crop) model measures no pose or landmarks: those columns are absent,
    # and nothing we cannot measure (gaze, 3-D landmarks, shape parameters) is written.
    assert cols == ["frame", "face_id", "timestamp", "confidence", "success", "AU01_r", "AU12_r",
                    "AU01_c", "AU12_c", "input"]
    assert is_subsequence(cols[:-1], openface_columns(["AU01", "AU12"], ["AU01", "AU12"]))
    assert cols[-1] == "input" and set(table["input"]) == {str(video)}
    assert table["face_id"].tolist() == [0, 0]
    for au in ("AU01", "AU12"):
        # Occurrence from the intensity read-out: level A (>= OCCURRENCE_THRESHOLD) or above.
        expected = ((table[f"{au}_r"] >= inference.OCCURRENCE_THRESHOLD) & (table.success == 1)).astype(float)
        assert table[f"{au}_c"].tolist() == expected.tolist()
    # OpenFace's decimals: timestamp 3, confidence 2, success 0, AU_r 2, AU_c 1.
    fields = dict(zip(header.split(", "), first.split(", ")))
    assert re.fullmatch(r"\d+\.\d{3}", fields["timestamp"]) and re.fullmatch(r"\d\.\d{2}", fields["confidence"])
    assert re.fullmatch(r"\d\.\d{2}", fields["AU01_r"]) and fields["AU01_c"] in ("0.0", "1.0")


class _StubAligner:
    """Stands in for a registered model's aligner: fixed landmarks, pose and fit error per frame."""

    max_fit_error = 0.2

    def __init__(self, size):
        self.size = size

    def __call__(self, batch):
        n = len(batch["image"])
        lm = np.stack([np.stack([np.arange(68) + 100 * i, np.arange(68) + 0.5, np.zeros(68)], -1)
                       for i in range(n)]).astype(np.float32)
        res = types.SimpleNamespace(fit_error=np.full(n, 0.05, np.float32),
                                    pose=np.tile(np.float32([[30.0, -10.0, 5.0]]), (n, 1)), landmarks=lm)
        return np.zeros((n, self.size, self.size, 3), np.uint8), np.ones(n, bool), [""] * n, res


def test_a_registered_model_writes_pose_and_landmarks(tmp_path, faces, detector, monkeypatch):
    monkeypatch.setattr(detector.predictor, "aligner", _StubAligner(detector.predictor.size))
    table = detector.detect_images([faces[0], faces[1]])
    cols = list(table.columns)
    assert cols[5:8] == ["pose_Rx", "pose_Ry", "pose_Rz"]
    assert cols[8:8 + 136] == [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
    assert is_subsequence(cols[:-1], openface_columns(["AU01", "AU12"], ["AU01", "AU12"]))
    # pose_R* = pitch, yaw, roll in radians (the registrar gives yaw, pitch, roll in degrees).
    assert table.loc[0, ["pose_Rx", "pose_Ry", "pose_Rz"]].tolist() == pytest.approx(np.deg2rad([-10.0, 30.0, 5.0]))
    assert table.loc[1, "x_3"] == 103.0 and table.loc[1, "y_3"] == 3.5
    assert table["confidence"].tolist() == pytest.approx([0.75, 0.75])
    out = tmp_path / "aus.csv"
    detector.write_csv(detector.rows(inference.iter_images([faces[0]])), str(out))
    again = read_openface_csv(out)
    assert list(again.columns) == cols and again.loc[0, "x_67"] == 67.0 and again.loc[0, "y_0"] == 0.5


def test_image_glob_with_an_unreadable_file(tmp_path, faces, model_dir):
    for i, f in enumerate(faces[:2]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (tmp_path / "2.png").write_bytes(b"not a png")
    out = tmp_path / "aus.csv"
    summary = inference.predict_to_csv(str(tmp_path / "*.png"), str(out), model_dir)
    table = read_openface_csv(out)
    assert table["success"].tolist() == [1, 1, 0]
    # Image inputs: the input column names each row's file.
    assert table["input"].tolist() == [str(tmp_path / f"{i}.png") for i in range(3)]
    assert summary["unreadable"] == 1


def test_python_api_gives_the_csv_columns(tmp_path, faces, model_dir, detector):
    folder = tmp_path / "a, b"   # A separator inside a path is quoted, and read back whole.
    folder.mkdir()
    video = folder / "clip.avi"
    _write_video(video, [faces[0], faces[1], faces[2]])
    out = tmp_path / "aus.csv"
    inference.predict_to_csv(str(video), str(out), model_dir, batch_size=4)
    csv_table = read_openface_csv(out)
    table = detector.detect_video(video)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == list(csv_table.columns)
    assert table["input"].tolist() == [str(video)] * 3 == csv_table["input"].tolist()
    numeric = [c for c in table.columns if c != "input"]
    np.testing.assert_allclose(table[numeric].to_numpy(float), csv_table[numeric].to_numpy(float), atol=5e-3)
    # Images: paths and arrays mixed; arrays are named by position.
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(faces[0], cv2.COLOR_RGB2BGR))
    images = detector.detect_images([str(path), faces[0]])
    assert images["input"].tolist() == [str(path), "<array 1>"]
    assert images["success"].tolist() == [1, 1] and images["frame"].tolist() == [1, 2]
    with pytest.raises(ValueError, match=re.escape("images[0]: expected an image path or an RGB uint8 array")):
        detector.detect_images([faces[0].astype(np.float32)])
    with pytest.raises(FileNotFoundError, match="1 image file"):
        detector.detect_images([str(tmp_path / "missing.png")])
    with pytest.raises(inference.ConfigError, match="not a video file"):
        detector.detect_video(path)


def test_readme_python_api_snippet_runs(tmp_path, faces, model_dir):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    snippet = re.search(r"### Python API\n.*?```python\n(.*?)```", readme, re.S).group(1)
    video = tmp_path / "my_video.avi"
    _write_video(video, [faces[0], faces[1]])
    stills = []
    for i in range(2):
        stills.append(str(tmp_path / f"face{i}.png"))
        cv2.imwrite(stills[-1], cv2.cvtColor(faces[i], cv2.COLOR_RGB2BGR))
    for placeholder, value in (("workdir/demo/stages/estimator-<hash>", model_dir), ("my_video.mp4", str(video)),
                               ("face1.png", stills[0]), ("face2.jpg", stills[1])):
        assert f'"{placeholder}"' in snippet, placeholder
        snippet = snippet.replace(f'"{placeholder}"', repr(value))
    scope = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert list(scope["aus"].columns)[:5] == ["frame", "face_id", "timestamp", "confidence", "success"]
    assert len(scope["aus"]) == 2 and len(scope["stills"]) == 2


def test_launcher_errors_are_one_line(tmp_path, model_dir):
    proc = subprocess.run([sys.executable, "launch/predict.py", f"--model_dir={model_dir}",
                           f"--input={tmp_path / 'nothing*.png'}", f"--output={tmp_path / 'o.csv'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert [l for l in proc.stderr.splitlines() if l.startswith("error: ")][0].startswith("error: --input=")


def _mp4(path, frames=12):
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (32, 32))
    for i in range(frames):
        out.write(np.full((32, 32, 3), 10 * i, np.uint8))
    out.release()
    return path


@pytest.mark.parametrize("case, expected", [
    ("empty", "is an empty file (0 bytes)"),
    ("text", "OpenCV cannot open it as a video"),
    ("truncated", "OpenCV cannot open it as a video"),   # An mp4 cut before its index (moov atom).
    ("output_dir", "is a directory: pass the path of the CSV file"),
    ("output_folder", "does not exist; create it"),
])
def test_inputs_and_outputs_that_cannot_work_are_refused_first(tmp_path, case, expected):
    video, output = tmp_path / "v.mp4", tmp_path / "aus.csv"
    _mp4(video)
    if case == "empty":
        video.write_bytes(b"")
    elif case == "text":
        video.write_text("this is not a video\n")
    elif case == "truncated":
        data = video.read_bytes()
        video.write_bytes(data[:len(data) // 2])
    elif case == "output_dir":
        output = tmp_path
    elif case == "output_folder":
        output = tmp_path / "missing" / "aus.csv"
    with pytest.raises(inference.ConfigError, match=re.escape(expected)):
        inference.check_arguments(str(video), str(output))
    # The launcher says it in one line, exit status 2, before loading any model.
    proc = subprocess.run([sys.executable, "launch/predict.py", f"--model_dir={tmp_path / 'no_model'}",
                           f"--input={video}", f"--output={output}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1 and expected in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_a_readable_mp4_passes_the_checks(tmp_path):
    inference.check_arguments(str(_mp4(tmp_path / "v.mp4")), str(tmp_path / "aus.csv"))


def test_non_finite_estimates_are_failed_frames(tmp_path, faces, model_dir, monkeypatch):
    predictor = inference.FramePredictor(model_dir, 4)
    real = predictor.estimator.intensities

    def half_nan(images, mode=None):
        out = np.array(real(images, mode), np.float32)
        out[::2] = np.nan  # e.g. a model whose parameters diverged
        return out

    monkeypatch.setattr(predictor.estimator, "intensities", half_nan)
    monkeypatch.setattr(inference, "FramePredictor", lambda *a, **k: predictor)
    video = tmp_path / "clip.avi"
    _write_video(video, [faces[0], faces[1], faces[2], faces[0]])
    out = tmp_path / "aus.csv"
    summary = inference.predict_to_csv(str(video), str(out), model_dir, batch_size=4)
    table = read_openface_csv(out)
    assert table["success"].tolist() == [0, 1, 0, 1]
    assert "nan" not in out.read_text().lower()
    assert summary["non_finite"] == 2 and summary["success"] == 2
