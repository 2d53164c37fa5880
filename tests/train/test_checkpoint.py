"""`checkpoint.load_run`: a trained run directory's metadata and latest finished checkpoint."""

import json
import os

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


def test_a_run_record_is_never_relabelled_over_checkpoints_of_another_model(tmp_path):
    import json

    from jaxau.validate import ConfigError

    d = str(tmp_path)
    rec = {"config": {"width": 0.25, "num_steps": 100}, "au_names": ["AU01", "AU12"], "seed": 0}
    checkpoint_lib.write_run_record(d, "m.json", rec, state_keys=("width",), what="an estimator")
    # No checkpoint yet: a new config simply replaces the record.
    rec2 = {"config": {"width": 0.5, "num_steps": 100}, "au_names": ["AU01", "AU12"], "seed": 0}
    checkpoint_lib.write_run_record(d, "m.json", rec2, state_keys=("width",), what="an estimator")
    os.makedirs(os.path.join(d, "checkpoints", "100"))
    # Longer training of the same model resumes: the record is updated.
    rec3 = dict(rec2, config={"width": 0.5, "num_steps": 200})
    checkpoint_lib.write_run_record(d, "m.json", rec3, state_keys=("width",), what="an estimator")
    assert json.load(open(os.path.join(d, "m.json")))["config"]["num_steps"] == 200
    with pytest.raises(ConfigError, match=r"holds checkpoints of an estimator with width=0.5 \(m.json\); this "
                                          r"run has width=0.25: use another --workdir"):
        checkpoint_lib.write_run_record(d, "m.json", rec, state_keys=("width",), what="an estimator")
    with pytest.raises(ConfigError, match=r"for AUs \['AU01', 'AU12'\]"):
        checkpoint_lib.write_run_record(d, "m.json", dict(rec3, au_names=["AU01"]), state_keys=("width",),
                                        what="an estimator")
    assert json.load(open(os.path.join(d, "m.json"))) == rec3


def test_a_state_key_added_since_an_older_record_reads_as_its_default(tmp_path):
    from jaxau.validate import ConfigError

    d = str(tmp_path)
    old = {"config": {"width": 16}, "au_names": ["AU01"], "seed": 0}
    checkpoint_lib.write_run_record(d, "m.json", old, state_keys=("width",), what="a generator")
    os.makedirs(os.path.join(d, "checkpoints", "10"))
    keys, defaults = ("width", "offset"), {"width": 64, "offset": 0.0}
    # The old record predates 'offset': a run with the default resumes, another value is refused.
    new = {"config": {"width": 16, "offset": 0.0}, "au_names": ["AU01"], "seed": 0}
    checkpoint_lib.write_run_record(d, "m.json", new, state_keys=keys, what="a generator", defaults=defaults)
    checkpoint_lib.write_run_record(d, "m.json", old, state_keys=("width",), what="a generator")
    with pytest.raises(ConfigError, match=r"with offset=0.0 \(m.json\); this run has offset=3.0"):
        checkpoint_lib.write_run_record(d, "m.json", dict(new, config={"width": 16, "offset": 3.0}),
                                        state_keys=keys, what="a generator", defaults=defaults)
