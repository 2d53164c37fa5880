"""Synthesis: a validated frame set labelled with the targets, deterministic, resumable from chunks."""

import os

import jax
import numpy as np
import pytest

from jaxau import io_utils
from jaxau.data import frame_store, frames as frames_lib, lazy_rows
from jaxau.synthesis import plan as plan_lib
from jaxau.synthesis import synthesize
from jaxau.train import checkpoint as checkpoint_lib
from jaxau.train import generator as gen_train

SIZE, AUS = 16, ("AU01", "AU06", "AU12")
CFG = dict(image_size=SIZE, g_width=4, g_blocks=0, d_width=4, d_layers=3)


def frame_set(n, seed, subject_prefix):
    rng = np.random.default_rng(seed)
    lab = rng.choice(6, size=(n, len(AUS)), p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1]).astype(np.int32)
    return {"image": rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8), "au_intensity": lab,
            "subject": np.asarray([f"{subject_prefix}{i % 5}" for i in range(n)]),
            "sequence": np.full(n, "s"), "frame": np.arange(n, dtype=np.int32),
            "pose_id": (np.arange(n) % 3).astype(np.int32), "au_names": np.asarray(AUS)}


def make_generator_dir(d: str, aus=AUS, **settings) -> str:
    """A generator model directory as `jaxau.train.generator.train` writes it (untrained weights);
    ``settings`` override `CFG`'s."""
    s = gen_train.settings({**CFG, **settings})
    io_utils.write_json(os.path.join(d, gen_train.MODEL_FILE), {"config": s, "au_names": list(aus), "seed": 5})
    ckpt = checkpoint_lib.Checkpointer(d, async_save=False)
    ckpt.save(0, gen_train.init_state(s, len(aus), 5))
    ckpt.close()
    return d


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory):
    return make_generator_dir(str(tmp_path_factory.mktemp("generator")))


@pytest.fixture(scope="module")
def first(generator_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth_a"))
    sources = frame_set(40, 0, "s")
    record = synthesize.synthesize_set(generator_dir, sources, out, per_level=3, seed=2, batch_size=8,
                                       chunk_size=16)
    return out, sources, record


def test_writes_a_valid_frame_set_labelled_with_the_targets(first, generator_dir):
    out, sources, record = first
    syn = frames_lib.load(os.path.join(out, "synthetic.npz"))
    assert frame_store.is_store(os.path.join(out, "synthetic.frames")) and lazy_rows.is_lazy(syn["image"])
    with np.load(os.path.join(out, "plan.npz")) as f:
        plan_src, plan_tgt = f["source_index"], f["target_labels"]
    n = len(AUS) * 6 * 3
    assert record["num_images"] == n == len(syn["image"]) and not record["skipped_cells"]
    np.testing.assert_array_equal(syn["au_intensity"], plan_tgt)
    np.testing.assert_array_equal(syn["subject"], sources["subject"][plan_src])
    np.testing.assert_array_equal(syn["frame"], np.arange(n))
    assert set(syn["sequence"]) == {"synthetic"}
    # Every synthetic image is G(source | target / 5), computed here without batching or sharding.
    trained = gen_train.load_generator(generator_dir)
    x = gen_train.to_unit(sources["image"][plan_src])
    ref = trained.generator.apply({"params": trained.params}, x, plan_tgt.astype(np.float32) / 5).image
    diff = np.abs(gen_train.to_uint8(np.asarray(ref)).astype(int) - syn["image"].astype(int))
    assert diff.max() <= 1
    assert os.path.getsize(os.path.join(out, "preview_synthesis.png")) > 100
    assert record["images_per_second"] > 0


def test_deterministic_across_batch_sizes_and_resumes_from_finished_chunks(first, generator_dir, tmp_path):
    out_a, sources, _ = first
    ref = frames_lib.load(os.path.join(out_a, "synthetic.npz"))
    out = str(tmp_path / "b")
    # Another batch size (and so other padding): the same images up to one rounding step (XLA CPU
    # compiles each batch shape separately; a value at .5 may round the other way, seen 1 in 41,472).
    synthesize.synthesize_set(generator_dir, sources, out, per_level=3, seed=2, batch_size=4, chunk_size=16)
    files = synthesize.chunk_files(out)
    assert len(files) == 4                       # 54 entries in chunks of 16
    other_batch = frames_lib.load(os.path.join(out, "synthetic.npz"))["image"]
    diff = np.abs(other_batch.astype(int) - ref["image"].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    ref = {"image": other_batch}
    # Kill-and-resume: only the missing chunk is generated again, bit for bit.
    os.remove(files[2])
    stamps = {f: os.stat(f).st_mtime_ns for f in files if f != files[2]}
    record = synthesize.synthesize_set(generator_dir, sources, out, per_level=3, seed=2, batch_size=4,
                                       chunk_size=16)
    assert record["chunks_generated"] == 1
    assert all(os.stat(f).st_mtime_ns == t for f, t in stamps.items())
    np.testing.assert_array_equal(frames_lib.load(os.path.join(out, "synthetic.npz"))["image"], ref["image"])
    # Chunks of another plan are never reused: it generates all of its own.
    other = synthesize.synthesize_set(generator_dir, sources, out, per_level=3, seed=3, batch_size=4,
                                      chunk_size=16)
    assert other["chunks_generated"] == -(-other["num_images"] // 16)
    assert len(synthesize.chunk_files(out)) == 4 + other["chunks_generated"]


def _one_per_cell(generator_dir, tmp_path, seed):
    """``(trained generator, 30 sources, their one-per-cell plan, out dir, synthesize kwargs)``."""
    trained = gen_train.load_generator(generator_dir)
    sources = frames_lib.with_aus(frame_set(30, seed, "s"), list(trained.au_names))
    plan = plan_lib.semantic_plan(sources["au_intensity"], None, per_level=1, seed=0)
    return trained, sources, plan, str(tmp_path / "s"), dict(au_names=list(trained.au_names), batch_size=4,
                                                            chunk_size=8)


def test_chunks_of_another_generator_are_never_reused(generator_dir, tmp_path):
    trained, sources, plan, out, kwargs = _one_per_cell(generator_dir, tmp_path, 0)
    a = synthesize.synthesize(trained.generator, trained.params, sources, plan, out, **kwargs)
    other = jax.tree_util.tree_map(lambda p: p * 1.5, trained.params)
    b = synthesize.synthesize(trained.generator, other, sources, plan, out, **kwargs)
    ref = synthesize.generate_images(trained.generator, other, sources["image"][plan.source_index],
                                     plan.target_labels, 4)
    assert np.abs(b["image"].astype(int) - ref.astype(int)).max() <= 1
    assert not np.array_equal(a["image"], b["image"])
    assert len(synthesize.chunk_files(out)) == 2 * -(-len(plan) // 8)
    assert synthesize.params_fingerprint(other) != synthesize.params_fingerprint(trained.params)


def test_cross_domain_sources_from_one_set_targets_from_another(generator_dir, tmp_path):
    sources, targets = frame_set(30, 1, "multipie"), frame_set(50, 2, "fera")
    out = str(tmp_path / "x")
    record = synthesize.synthesize_set(generator_dir, sources, out, per_level=2, targets=targets, seed=0,
                                       batch_size=8, chunk_size=64)
    syn = frames_lib.load(os.path.join(out, "synthetic.npz"))
    plan = plan_lib.semantic_plan(sources["au_intensity"], targets["au_intensity"], per_level=2, seed=0)
    np.testing.assert_array_equal(syn["au_intensity"], plan.target_labels)
    assert all(s.startswith("multipie") for s in syn["subject"]) and record["cross_domain"]


def test_bad_batch_size_and_wrong_image_size_are_rejected(generator_dir, tmp_path):
    sources = frame_set(20, 0, "s")
    with pytest.raises(ValueError, match="multiple of the"):
        synthesize.synthesize_set(generator_dir, sources, str(tmp_path / "a"), per_level=1,
                                  batch_size=jax.local_device_count() + 1)
    small = dict(sources, image=sources["image"][:, :8, :8])
    with pytest.raises(ValueError, match="trained at 16"):
        synthesize.synthesize_set(generator_dir, small, str(tmp_path / "b"), per_level=1)


def test_edit_scale_draws_the_generators_edit_larger_and_keys_its_own_chunks(generator_dir, tmp_path):
    trained = gen_train.load_generator(generator_dir)
    sources = frames_lib.with_aus(frame_set(12, 3, "s"), list(trained.au_names))
    labels = np.full((12, len(AUS)), 4, np.int32)
    own = synthesize.generate_images(trained.generator, trained.params, sources["image"], labels, 4)
    assert np.array_equal(own, synthesize.generate_images(trained.generator, trained.params, sources["image"],
                                                          labels, 4, edit_scale=1.0))
    twice = synthesize.generate_images(trained.generator, trained.params, sources["image"], labels, 4,
                                       edit_scale=2.0)
    # src + 2 (G - src) in [-1, 1], against the uint8 images: within the two roundings.
    src, g = sources["image"].astype(float), own.astype(float)
    want = np.clip(src + 2.0 * (g - src), 0, 255)
    assert np.abs(twice.astype(float) - want).max() <= 2.5 and not np.array_equal(twice, own)
    plan = plan_lib.semantic_plan(sources["au_intensity"], None, per_level=1, seed=0)
    out = str(tmp_path / "s")
    kwargs = dict(au_names=list(trained.au_names), batch_size=4, chunk_size=8)
    a = synthesize.synthesize(trained.generator, trained.params, sources, plan, out, **kwargs)
    b = synthesize.synthesize(trained.generator, trained.params, sources, plan, out, edit_scale=2.0, **kwargs)
    assert not np.array_equal(a["image"], b["image"])
    assert len(synthesize.chunk_files(out)) == 2 * -(-len(plan) // 8)  # a second chunk set, not a reuse


def test_generate_scaled_runs_the_generator_once_and_matches_generate_images_at_every_scale(generator_dir):
    trained = gen_train.load_generator(generator_dir)
    sources = frames_lib.with_aus(frame_set(10, 4, "s"), list(trained.au_names))
    labels = np.tile(np.arange(len(AUS)) % 6, (10, 1)).astype(np.int32)
    scaled = synthesize.generate_scaled(trained.generator, trained.params, sources["image"], labels,
                                        [0.5, 1.0, 2.0], batch_size=4)
    assert sorted(scaled) == [0.5, 1.0, 2.0]
    for k, images in scaled.items():
        ref = synthesize.generate_images(trained.generator, trained.params, sources["image"], labels, 4, edit_scale=k)
        assert images.dtype == np.uint8 and images.shape == ref.shape
        # numpy vs XLA arithmetic on the same float32 values: at most one grey level apart.
        assert np.abs(images.astype(int) - ref.astype(int)).max() <= 1, k
    assert not np.array_equal(scaled[0.5], scaled[2.0])


def _generator_float(trained, images, levels):
    """``(x, G(x | levels / 5))`` in [-1, 1] float64, the module applied directly (the reference)."""
    x = images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    aus = np.where(levels >= 0, levels, 0).astype(np.float32) / np.float32(5.0)
    fake = trained.generator.apply({"params": trained.params}, x, aus).image
    return x.astype(np.float64), np.asarray(fake, np.float64)


def test_edit_draw_adds_the_generators_edit_to_the_source_and_cancels_its_hand(generator_dir):
    trained = gen_train.load_generator(generator_dir)
    sources = frames_lib.with_aus(frame_set(12, 5, "s"), list(trained.au_names))
    images, own = sources["image"], sources["au_intensity"]
    labels = np.full((12, len(AUS)), 4, np.int32)
    kwargs = dict(batch_size=4, draw="edit", source_labels=own)
    # With the sources' own labels the edit is zero: the source itself, where G's image is not.
    np.testing.assert_array_equal(synthesize.generate_images(trained.generator, trained.params, images, own,
                                                             **kwargs), images)
    assert not np.array_equal(synthesize.generate_images(trained.generator, trained.params, images, own, 4), images)
    x, fake = _generator_float(trained, images, labels)
    _, base = _generator_float(trained, images, own)
    scaled = synthesize.generate_scaled(trained.generator, trained.params, images, labels, [1.0, 2.0], **kwargs)
    for k in (1.0, 2.0):
        drawn = synthesize.generate_images(trained.generator, trained.params, images, labels, edit_scale=k, **kwargs)
        want = np.clip(np.round((x + k * (fake - base) + 1.0) * 127.5), 0, 255)
        assert np.abs(drawn.astype(float) - want).max() <= 1, k
        assert np.abs(scaled[k].astype(int) - drawn.astype(int)).max() <= 1, k
        image_draw = synthesize.generate_images(trained.generator, trained.params, images, labels, 4, edit_scale=k)
        assert np.abs(drawn.astype(int) - image_draw.astype(int)).max() > 2, k
    with pytest.raises(ValueError, match="source_labels"):
        synthesize.generate_images(trained.generator, trained.params, images, labels, 4, draw="edit")
    with pytest.raises(ValueError, match="draw='blur'"):
        synthesize.generate_images(trained.generator, trained.params, images, labels, 4, draw="blur")


def test_an_edit_drawn_set_reads_each_sources_own_labels_and_keys_its_own_chunks(generator_dir, tmp_path):
    trained, sources, plan, out, kwargs = _one_per_cell(generator_dir, tmp_path, 6)
    image = synthesize.synthesize(trained.generator, trained.params, sources, plan, out, **kwargs)
    edit = synthesize.synthesize(trained.generator, trained.params, sources, plan, out, draw="edit", **kwargs)
    src = sources["image"][plan.source_index]
    ref = synthesize.generate_images(trained.generator, trained.params, src, plan.target_labels, 4, draw="edit",
                                     source_labels=sources["au_intensity"][plan.source_index])
    np.testing.assert_array_equal(np.asarray(edit["image"]), ref)
    assert not np.array_equal(np.asarray(edit["image"]), np.asarray(image["image"]))
    assert len(synthesize.chunk_files(out)) == 2 * -(-len(plan) // 8)  # its own chunk set, not a reuse
    record = synthesize.synthesize_set(generator_dir, sources, str(tmp_path / "set"), per_level=1, batch_size=4,
                                       chunk_size=8, draw="edit")
    assert record["draw"] == "edit"


def test_a_relative_generator_draws_each_plan_entry_from_its_sources_own_levels(tmp_path):
    """``generator.conditioning='relative'``: every drawing path gives G the change from each source's
    own levels (unknown levels count as 0), the set's chunks included; without the sources' levels it
    refuses to draw."""
    d = make_generator_dir(str(tmp_path / "rel"), conditioning="relative")
    trained = gen_train.load_generator(d)
    assert trained.generator.conditioning == "relative"
    sources = frames_lib.with_aus(frame_set(30, 7, "s"), list(trained.au_names))
    own = sources["au_intensity"].copy()
    own[0, 0] = -1
    sources["au_intensity"] = own
    labels = np.tile(np.arange(len(AUS)) % 6, (30, 1)).astype(np.int32)
    x = sources["image"].astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    unit = lambda levels: np.where(levels >= 0, levels, 0).astype(np.float32) / np.float32(5.0)  # noqa: E731
    fake = trained.generator.apply({"params": trained.params}, x, unit(labels), unit(own)).image
    want = np.clip(np.round((np.asarray(fake, np.float64) + 1.0) * 127.5), 0, 255)
    drawn = synthesize.generate_images(trained.generator, trained.params, sources["image"], labels, 4,
                                       source_labels=own)
    assert np.abs(drawn.astype(float) - want).max() <= 1
    # Asked for its own levels, G sees a zero change whatever the face shows.
    absolute = gen_train.modules(gen_train.settings({**CFG}), len(AUS))[0]
    zero = absolute.apply({"params": trained.params}, x, np.zeros_like(unit(own))).image
    same = synthesize.generate_images(trained.generator, trained.params, sources["image"], own, 4, source_labels=own)
    assert np.abs(same.astype(float) - np.clip(np.round((np.asarray(zero, np.float64) + 1) * 127.5), 0, 255)).max() <= 1
    with pytest.raises(ValueError, match="relative conditioning"):
        synthesize.generate_images(trained.generator, trained.params, sources["image"], labels, 4)
    with pytest.raises(ValueError, match="relative conditioning"):
        synthesize.generate_scaled(trained.generator, trained.params, sources["image"], labels, [1.0], 4)
    # The set: each entry drawn from its source's own levels.
    plan = plan_lib.semantic_plan(sources["au_intensity"], None, per_level=1, seed=0)
    syn = synthesize.synthesize(trained.generator, trained.params, sources, plan, str(tmp_path / "set"),
                                au_names=list(AUS), batch_size=4, chunk_size=8)
    ref = synthesize.generate_images(trained.generator, trained.params, sources["image"][plan.source_index],
                                     plan.target_labels, 4, source_labels=own[plan.source_index])
    np.testing.assert_array_equal(np.asarray(syn["image"]), ref)
    # The settings: the conditioning is checked before any work and keys the checkpointed state.
    assert "conditioning" in gen_train.STATE_KEYS and gen_train.DEFAULTS["conditioning"] == "absolute"
    with pytest.raises(ValueError, match="config.generator.conditioning='delta'"):
        gen_train.check_settings(gen_train.settings({"conditioning": "delta"}))
