"""Batch inference on a generated video: one CSV row per frame, faces found, bad frames flagged."""

import csv
import dataclasses
import re
import subprocess
import sys

import cv2
import numpy as np
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


def test_video_rows_and_success_flags(tmp_path, faces, model_dir):
    blank = np.full_like(faces[0], 90)
    # Frames: face, face, blank (no face), face [to be corrupted], face.
    video = tmp_path / "clip.avi"
    _write_video(video, [faces[0], faces[1], blank, faces[2], faces[0]])
    corrupt_avi_frame(video, 3)
    out = tmp_path / "aus.csv"
    summary = inference.predict_to_csv(str(video), str(out), model_dir, batch_size=4)
    rows = list(csv.DictReader(open(out)))
    assert [r["frame"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["success"] for r in rows] == ["1", "1", "0", "0", "1"]
    assert list(rows[0])[:7] == ["frame", "timestamp", "success", "confidence", "pose_Rx", "pose_Ry", "pose_Rz"]
    assert "AU01_r" in rows[0] and "AU12_r" in rows[0]
    assert rows[1]["timestamp"] == "0.100"
    assert summary == {**summary, "frames": 5, "success": 3, "no_face": 1, "unreadable": 1}


def test_image_glob_with_an_unreadable_file(tmp_path, faces, model_dir):
    for i, f in enumerate(faces[:2]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (tmp_path / "2.png").write_bytes(b"not a png")
    out = tmp_path / "aus.csv"
    summary = inference.predict_to_csv(str(tmp_path / "*.png"), str(out), model_dir)
    assert [r["success"] for r in csv.DictReader(open(out))] == ["1", "1", "0"]
    assert summary["unreadable"] == 1


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
    rows = list(csv.DictReader(open(out)))
    assert [r["success"] for r in rows] == ["0", "1", "0", "1"]
    assert not any("nan" in v.lower() for r in rows for v in r.values())
    assert summary["non_finite"] == 2 and summary["success"] == 2
