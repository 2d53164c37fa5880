"""`checkpoint.load_run`: a trained run directory's metadata and latest finished checkpoint."""

import json

import jax
import numpy as np
import pytest

from jaxau.train import checkpoint as checkpoint_lib


def _write_meta(path, meta):
    path.mkdir(parents=True, exist_ok=True)
    (path / "run.json").write_text(json.dumps(meta))


def test_load_run_restores_the_latest_step_into_the_target_built_from_the_metadata(tmp_path):
    _write_meta(tmp_path, {"config": {"width": 3}})
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), async_save=False)
    for step in (1, 2):
        ckpt.save(step, {"w": np.full(3, float(step), np.float32)})
    ckpt.close()
    seen = []

    def target(meta):
        seen.append(meta)
        return {"w": jax.ShapeDtypeStruct((meta["config"]["width"],), np.float32)}

    meta, state, step = checkpoint_lib.load_run(str(tmp_path), "run.json", target, what="the model",
                                                written_by="a test")
    assert meta == seen[0] == {"config": {"width": 3}}
    assert step == 2
    np.testing.assert_array_equal(np.asarray(state["w"]), np.full(3, 2.0, np.float32))


def test_load_run_names_the_missing_file_or_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run\.json not found: the directory of the model must be a "
                                                r"run of launch/x\.py"):
        checkpoint_lib.load_run(str(tmp_path / "none"), "run.json", lambda m: {}, what="the model",
                                written_by="launch/x.py")
    _write_meta(tmp_path / "empty", {"config": {}})
    with pytest.raises(FileNotFoundError, match="No finished checkpoint in .*: train the model first"):
        checkpoint_lib.load_run(str(tmp_path / "empty"), "run.json", lambda m: {}, what="the model",
                                written_by="launch/x.py")
