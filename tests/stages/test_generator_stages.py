"""Pipeline stages ``generator`` -> ``synthesis`` on tiny SynthFACS frames: a validated synthetic.npz."""

import json
import os

import jax
import numpy as np
import pytest

from jaxau.data import frame_store, frames as frames_lib, lazy_rows

# The same generator settings as tests/train/test_generator.py: one compilation per session.
GEN = dict(image_size=16, g_width=4, g_blocks=0, d_width=4, d_layers=3, batch_size=8, num_steps=6,
           n_critic=2, log_every=1, checkpoint_every=2, grid_every=3, grid_sources=2, critic_warmup=2,
           eval_every=3)


@pytest.fixture(scope="module")
def stages(request, tmp_path_factory):
    import configs.demo as demo
    from jaxau.stages import generator as generator_stage
    from jaxau.stages import synthesis as synthesis_stage
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config = demo.get_config()
    config.data.data_dir = data_dir
    config.data.image_size = 16
    for k, v in GEN.items():
        config.generator[k] = v
    config.synthesis.per_level = 3
    config.synthesis.batch_size = 8
    config.synthesis.chunk_size = 32
    # The stand-in frames are not config.data's SynthFACS set: no oracle renders here
    # (tests/synthesis/test_oracle_fidelity.py covers them).
    config.synthesis.fidelity_per_cell = 0
    # No real column here to read with (tests/test_demo.py runs the calibration in the graph).
    config.synthesis.calibrate_edit_scale = False
    root = tmp_path_factory.mktemp("gen_stages")
    # Stand-in for the register_3d stage's output: the tiny set's frames as a frame set at 16 x 16.
    reg = str(root / "register_3d")
    os.makedirs(reg)
    frames = frames_lib.load_tfds("synthfacs/fera_small", "train", data_dir=data_dir, image_size=16)
    frames_lib.save(os.path.join(reg, "train.npz"), frames)
    frames_lib.save(os.path.join(reg, "validation.npz"), frames_lib.load_tfds(
        "synthfacs/fera_small", "validation", data_dir=data_dir, image_size=16))
    gen_dir, syn_dir = str(root / "generator"), str(root / "synthesis")
    os.makedirs(gen_dir)
    os.makedirs(syn_dir)
    gen_summary = generator_stage.run(config, gen_dir, {"frames": reg})
    syn_summary = synthesis_stage.run(config, syn_dir, {"sources": reg, "generator": gen_dir})
    return config, frames, gen_dir, syn_dir, gen_summary, syn_summary


def test_generator_stage_trains_and_writes_preview_and_metrics(stages):
    config, frames, gen_dir, _, summary, _ = stages
    # data.train_poses = '4': the frontal frames only.
    assert summary["steps"] == 6 and summary["train_frames"] == int((frames["pose_id"] == 4).sum()) > 0
    assert np.isfinite(summary["d_loss"]) and np.isfinite(summary["g_ids"])
    # The critic's AU head scored on the validation frames while it trains (steps 3 and 6).
    assert np.isfinite(summary["critic_icc"])
    with open(os.path.join(gen_dir, "generator_eval_metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [3, 6]
    with open(os.path.join(gen_dir, "metrics.json")) as f:
        record = json.load(f)
    assert record["steps"] == 6
    # critic_icc's support: positive validation frames per AU (frontal validation frames only).
    from jaxau.stages import frames as frames_stage
    val = frames_lib.load_tfds("synthfacs/fera_small", "validation", data_dir=config.data.data_dir, image_size=16)
    val = frames_lib.with_aus(val, frames_stage.aus(config))
    front = val["au_intensity"][val["pose_id"] == 4]
    assert record["critic_val_frames"] == len(front) > 0
    assert list(record["critic_val_positives"].values()) == [int(n) for n in (front > 0).sum(0)]
    # Its interval over validation subjects, around the final critic_icc (the same critic, frames, ICC).
    subjects = len(set(val["subject"][val["pose_id"] == 4]))
    assert record["critic_val_subjects"] == subjects
    if subjects > 1:
        lo, hi = record["critic_icc_ci95"]
        assert lo <= record["critic_icc"] + 1e-6 and record["critic_icc"] - 1e-6 <= hi and lo < hi
    # How often the training pairs change each AU: the shares of the batches the generator drew.
    from jaxau.stages import generator as generator_stage
    from jaxau.train import generator as gen_train

    assert list(record["pair_changes"]) == list(frames_stage.aus(config))
    train = frames_lib.with_aus(frames_lib.select_poses(frames, "4", "train"), frames_stage.aus(config))
    assert record["pair_changes"] == gen_train.pair_change_shares(generator_stage.generator_config(config),
                                                                  train, int(config.seed))
    assert os.path.getsize(os.path.join(gen_dir, "preview_generator.png")) > 100


def test_synthesis_stage_writes_a_frame_set_the_estimator_stage_can_load(stages):
    config, frames, _, syn_dir, _, summary = stages
    syn = frames_lib.load(os.path.join(syn_dir, "synthetic.npz"))
    assert frame_store.is_store(os.path.join(syn_dir, "synthetic.frames")) and lazy_rows.is_lazy(syn["image"])
    k = len(syn["au_names"])
    assert list(syn["au_names"]) == [a for a in config.data.aus.split(",")]
    assert summary["num_images"] == len(syn["image"]) == (k * 6 - len(summary["skipped_cells"])) * 3
    assert syn["image"].shape[1:] == (16, 16, 3) and set(syn["sequence"]) == {"synthetic"}
    # Balanced by construction: 3 images per non-empty (AU, level) cell, whose target shows that level.
    counts = np.zeros((k, 6), int)
    np.add.at(counts, (syn["target_au"], syn["target_level"]), 1)
    assert set(counts.ravel()) <= {0, 3}
    np.testing.assert_array_equal(syn["au_intensity"][np.arange(len(syn["image"])), syn["target_au"]],
                                  syn["target_level"])
    # Sources: the frontal training frames (data.train_poses = '4').
    assert set(syn["pose_id"]) == {4}
    src = frames_lib.with_aus(frames_lib.select(frames, frames["pose_id"] == 4), list(syn["au_names"]))
    np.testing.assert_array_equal(src["au_intensity"][syn["source_index"], syn["target_au"]], 0)
    # What an estimator stage does with it.
    frames_lib.with_aus(syn, [a for a in config.data.aus.split(",")])


def test_generator_stage_rejects_a_size_mismatch(stages, tmp_path):
    from jaxau.stages import generator as generator_stage

    config = stages[0]
    config = config.copy_and_resolve_references()
    config.generator.image_size = 32
    with pytest.raises(ValueError, match="config.data.image_size=16"):
        generator_stage.generator_config(config)


def test_critic_interval_brackets_the_critics_validation_icc(monkeypatch):
    from jaxau.evaluation import bootstrap
    from jaxau.stages import generator as generator_stage
    from jaxau.train import generator as gen_train

    aus = ["AU06", "AU12"]
    state = gen_train.init_state(gen_train.settings(GEN), len(aus), seed=0)
    rng = np.random.default_rng(0)
    n = 48
    labels = rng.integers(0, 6, (n, 2))
    # A critic that reads the levels with noise, in its [0, 1] units (level / 5).
    reading = np.clip((labels + rng.normal(0, 1.2, labels.shape)) / 5.0, 0, 1).astype(np.float32)
    seen = {}

    def fake_outputs(discriminator, params, images, batch_size=64):
        seen["params"], seen["images"] = params, images
        return reading

    monkeypatch.setattr(gen_train, "critic_outputs", fake_outputs)
    val = {"image": rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8), "au_intensity": labels,
           "subject": np.repeat([f"s{i}" for i in range(6)], 8)}
    icc, _ = gen_train.critic_icc(reading, labels)
    record = generator_stage._critic_interval(GEN, state, val, aus, seed=3)
    # The final critic's parameters read the validation images.
    assert seen["images"] is val["image"]
    np.testing.assert_array_equal(jax.tree.leaves(seen["params"])[0], jax.tree.leaves(state.d.params)[0])
    assert record["critic_val_subjects"] == 6
    lo, hi = record["critic_icc_ci95"]
    assert 0.2 < icc and lo < icc < hi and hi - lo > 0.05
    # In level units (x 5), as critic_icc reads them: the same point estimate, and its interval.
    ref = bootstrap.column_interval(labels, reading * 5.0, val["subject"], aus, seed=3)
    assert ref["icc"] == pytest.approx(icc, abs=1e-6)
    np.testing.assert_allclose(record["critic_icc_ci95"], ref["ci95"])
    # One subject: no interval, said so.
    one = dict(val, subject=np.full(n, "s0"))
    assert generator_stage._critic_interval(GEN, state, one, aus, seed=3) == {"critic_val_subjects": 1}
