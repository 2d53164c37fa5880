"""End to end on a tiny SynthFACS build: registration stage (a few steps) -> register_2d / register_3d
write valid frame sets, count failures instead of dropping them, resume from chunks, and preview."""

import json
import logging
import os

import numpy as np
import pytest

from jaxau import io_utils
from jaxau.data import frame_store, frames as frames_lib, lazy_rows


def split_sizes(data_dir):
    from jaxau.data import registry

    info = registry.builder("synthfacs/fera_small", data_dir=data_dir).info
    return {k: v.num_examples for k, v in info.splits.items()}


def make_config(data_dir):
    import configs.demo as demo

    c = demo.get_config()
    c.data.name = "synthfacs/fera_small"  # what tiny_synthfacs builds (the demo may use another config)
    c.data.data_dir = data_dir
    c.data.image_size = 32
    c.registration.num_steps = 8
    c.registration.log_every = 4
    c.registration.checkpoint_every = 8
    c.align.batch_size = 16
    c.align.chunk_size = 32
    return c


@pytest.fixture(scope="module")
def setup(request, tmp_path_factory):
    from jaxau.stages import registration
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config = make_config(data_dir)
    root = tmp_path_factory.mktemp("stages")
    reg_dir = str(root / "registration")
    os.makedirs(reg_dir)
    summary = registration.run(config, reg_dir, {"data": str(root / "data")})
    return config, root, reg_dir, summary


def test_registration_stage_writes_model_metrics_and_preview(setup):
    config, _, reg_dir, summary = setup
    assert summary["steps"] == 8 and summary["num_frames"] == split_sizes(config.data.data_dir)["test"]
    with open(os.path.join(reg_dir, "metrics.json")) as f:
        metrics = json.load(f)
    assert set(metrics["landmark_nme_by_pose"]) == {str(p) for p in range(9)}
    assert os.path.getsize(os.path.join(reg_dir, "preview_registration.png")) > 1000


@pytest.mark.parametrize("mode", ["2d", "3d"])
def test_register_stage_writes_valid_frame_sets(setup, mode):
    from jaxau.stages import register

    config, root, reg_dir, _ = setup
    out = str(root / f"register_{mode}")
    os.makedirs(out)
    run = register.run_2d if mode == "2d" else register.run_3d
    summary = run(config, out, {"data": str(root / "data"), "registration": reg_dir})
    total = split_sizes(config.data.data_dir)
    for split, n in total.items():
        fs = frames_lib.load(os.path.join(out, f"{split}.npz"))
        # Written as a frame store, read back lazily.
        assert frame_store.is_store(os.path.join(out, f"{split}.frames")) and lazy_rows.is_lazy(fs["image"])
        assert fs["image"].shape[1:] == (32, 32, 3)
        assert list(fs["au_names"]) == config.data.aus.split(",")
        assert summary[f"{split}_frames"] + summary[f"{split}_failed"] == n
        assert len(fs["image"]) == summary[f"{split}_frames"]
        assert np.asarray(fs["image"]).mean() > 5  # not black frames
    test = frames_lib.load(os.path.join(out, "test.npz"))
    assert sorted(set(test["pose_id"].tolist())) == list(range(9)) or summary["test_failed"] > 0
    # SynthFACS's neutral flags travel with the frames (AU0 normalisation prefers them).
    import tensorflow_datasets as tfds

    from jaxau.data import registry

    ds = registry.builder(config.data.name, data_dir=config.data.data_dir).as_dataset(split="test")
    flags = {(ex["sequence"].decode(), int(ex["frame"])): bool(ex["neutral"]) for ex in tfds.as_numpy(ds)}
    assert test["neutral"].dtype == bool
    assert [flags[s, int(f)] for s, f in zip(test["sequence"], test["frame"])] == test["neutral"].tolist()
    assert os.path.getsize(os.path.join(out, f"preview_{mode}.png")) > 1000
    # The frontalisation oracle: every test pose, and with the exact mesh / landmarks the frontal
    # view (pose 4) lands within 3 % of the face size of the true frontal face (the tiny build renders
    # without supersampling, the oracle with it: pixels differ, geometry does not).
    with open(os.path.join(out, "oracle.json")) as f:
        rec = json.load(f)
    assert set(rec["poses"]) == {str(p) for p in range(9)}
    assert rec["poses"]["4"]["landmark_error_exact"] < 0.03, rec["poses"]["4"]
    assert rec["poses"]["4"]["coverage_exact"] > 0.9
    # Where the alignment departs from the truth: every landmark region of the frontal face is shown.
    for region in ("brows_eyes", "nose", "mouth"):
        assert 0.0 <= rec["poses"]["4"][f"photometric_mae_{region}_exact"] < 255.0
    assert summary["oracle_landmark_error"] == pytest.approx(rec["all"]["landmark_error"], abs=1e-4)


def test_failures_are_counted_and_listed_and_chunks_resume(setup, tmp_path, caplog):
    from jaxau.stages import register

    config, root, reg_dir, _ = setup
    # Failures, resume and chunk keys do not need the frontalisation oracle (tested above): skip its renders.
    config.align.oracle_frames = 0
    # Boxes from a CSV that has only the test subject's pose-4 frames: every other frame "no face".
    import tensorflow_datasets as tfds

    from jaxau.data import registry

    ds = registry.builder(config.data.name, data_dir=config.data.data_dir).as_dataset(split="test")
    rows = ["key,x0,y0,x1,y1"]
    n_test = 0
    for ex in tfds.as_numpy(ds):
        n_test += 1
        if int(ex["pose"]["id"]) == 4:
            lm = ex["landmarks_2d"]
            rows.append(f"{ex['sequence'].decode()}/{int(ex['frame'])},{lm[:, 0].min()},{lm[:, 1].min()},"
                        f"{lm[:, 0].max()},{lm[:, 1].max()}")
    csv_path = tmp_path / "boxes.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    config.align.boxes = str(csv_path)
    out = str(tmp_path / "out")
    os.makedirs(out)
    with caplog.at_level(logging.WARNING):
        summary = register.register_dataset(config, config.data.data_dir, out, reg_dir, "2d", ("test",))
    n_ok = len(rows) - 1
    # The failures are also said on the console, once per split that has any.
    warned = [r.getMessage() for r in caplog.records if "frames failed" in r.getMessage()]
    assert warned == [f"register_2d test: {n_test - n_ok} of {n_test} frames failed (listed in failures.json)"]
    assert 0 < n_ok < n_test
    assert {k: summary[k] for k in ("test_frames", "test_failed")} == {"test_frames": n_ok, "test_failed": n_test - n_ok}
    with open(os.path.join(out, "failures.json")) as f:
        failures = json.load(f)["test"]
    assert failures["count"] == n_test - n_ok and len(failures["frames"]) == n_test - n_ok
    assert {r["reason"] for r in failures["frames"]} == {"no face"}
    # The split's store links the chunks' image files in (no copy on the assembling process).
    chunk = os.path.join(register.chunk_directory(config, out, reg_dir, "2d"), "test-00000.npz")
    chunk_image = frame_store.chunk_image_path(chunk)
    assert os.path.samefile(os.path.join(out, "test.frames", "image-00000.npy"), chunk_image)
    # Resume: a finished chunk is not recomputed (we corrupt its image to detect recomputation).
    saved = {"image": np.full_like(np.load(chunk_image), 7)}
    with io_utils.atomic_open(chunk_image, "wb") as f:
        np.save(f, saved["image"])
    register.register_dataset(config, config.data.data_dir, out, reg_dir, "2d", ("test",))
    assert np.all(frames_lib.load(os.path.join(out, "test.npz"))["image"][:len(saved["image"])] == 7)
    # Other settings in the same directory never reuse those chunks: 3D, or 2D at another scale.
    register.register_dataset(config, config.data.data_dir, out, reg_dir, "3d", ("test",))
    assert not np.all(frames_lib.load(os.path.join(out, "test.npz"))["image"][:len(saved["image"])] == 7)
    config.align.chunk_size = 16
    register.register_dataset(config, config.data.data_dir, out, reg_dir, "2d", ("test",))
    assert not np.all(frames_lib.load(os.path.join(out, "test.npz"))["image"][:len(saved["image"])] == 7)
