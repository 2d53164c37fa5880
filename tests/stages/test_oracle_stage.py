"""Stage ``oracle`` on tiny SynthFACS frames: the exact oracle set and the degraded ones (``config.oracle``)."""

import copy
import json
import os

import numpy as np
import pytest

from jaxau import validate
from jaxau.data import frames as frames_lib


@pytest.fixture(scope="module")
def oracle_sets(request, tmp_path_factory):
    import configs.demo as demo
    from jaxau.stages import synthesis as synthesis_stage
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config = demo.get_config()
    config.data.name = "synthfacs/fera_small"   # what tiny_synthfacs builds
    config.data.data_dir = data_dir
    config.data.image_size = 64
    config.synthesis.per_level = 1
    config.synthesis.fidelity_per_cell = 1
    root = tmp_path_factory.mktemp("oracle_stage")
    # The unregistered frames stage's output (its directory name says how the frames were registered).
    raw = str(root / "frames_raw-0")
    os.makedirs(raw)
    for split in ("train", "validation"):
        frames_lib.save(os.path.join(raw, f"{split}.npz"), frames_lib.load_tfds(
            "synthfacs/fera_small", split, data_dir=data_dir, image_size=64))
    # Oracle renders as the tiny build rendered its frames (without supersampling), so an unedited
    # re-render is the stored frame and every edit measured below is the expression's alone.
    import dataclasses

    from jaxau.face import synth
    from jaxau.synthesis import oracle

    patch = pytest.MonkeyPatch()
    patch.setattr(oracle, "synthfacs_config", lambda name: dataclasses.replace(
        synth.get_config(str(name).split("/", 1)[1]), supersample=1, batch_size=27))
    request.addfinalizer(patch.undo)
    out = {}
    for name, strength, aus, direction, blur, plan in (
            ("exact", 1.0, "all", "both", 0.0, "semantic"), ("half", 0.5, "all", "both", 0.0, "semantic"),
            ("labelled", 1.0, "labelled", "both", 0.0, "semantic"), ("faint", 0.4, "labelled", "both", 0.0, "semantic"),
            ("added", 0.4, "labelled", "up", 0.0, "semantic"), ("blurred", 1.0, "all", "both", 0.7, "semantic"),
            ("natural", 1.0, "all", "both", 0.0, "natural")):
        cfg = copy.deepcopy(config)
        cfg.oracle.strength, cfg.oracle.expression_aus, cfg.oracle.direction = strength, aus, direction
        cfg.oracle.blur, cfg.synthesis.plan = blur, plan
        synthesis_stage.check_oracle(cfg)
        stage_dir = str(root / name)
        os.makedirs(stage_dir)
        summary = synthesis_stage.run_oracle(cfg, stage_dir, {"sources": raw})
        with open(os.path.join(stage_dir, "oracle.json")) as f:
            record = json.load(f)
        out[name] = (summary, record, frames_lib.load(os.path.join(stage_dir, "synthetic.frames")))
    out["context"] = (config, raw, root)
    return out


def test_a_faint_labelled_oracle_keeps_the_plan_and_its_labels_and_draws_a_fainter_edit(oracle_sets):
    exact_summary, exact, exact_set = oracle_sets["exact"]
    faint_summary, faint, faint_set = oracle_sets["faint"]
    # The same plan: same sources, targets and the target's labels, whatever is rendered.
    assert faint["plan_fingerprint"] == exact["plan_fingerprint"] and len(faint_set["image"]) == len(exact_set["image"])
    for key in ("au_intensity", "source_index", "target_au", "target_level"):
        np.testing.assert_array_equal(faint_set[key], exact_set[key])
    assert not np.array_equal(faint_set["image"], exact_set["image"])
    assert (exact["strength"], exact["expression_aus"]) == (1.0, "all") and "edit" not in exact
    assert (faint["strength"], faint["expression_aus"]) == (0.4, "labelled")
    # Scored against the exact oracle like a generator (on the fidelity sample): each degradation
    # draws less of the exact edit and is further from the exact images than the one before, and
    # every one is closer to them than copying the source.
    half, labelled, faint = (oracle_sets[k][1]["edit"] for k in ("half", "labelled", "faint"))
    assert half["entries"] == labelled["entries"] == faint["entries"] > 0
    assert 0.0 < faint["gain"] < half["gain"] < 1.0 and faint["gain"] < labelled["gain"] <= 1.0 + 1e-9
    assert 0.0 < faint["cosine"] <= labelled["cosine"] <= 1.0 + 1e-9
    assert labelled["l1"] < faint["l1"] < faint["l1_copy_source"] and half["l1"] < half["l1_copy_source"]
    assert faint_summary["edit_gain"] == faint["gain"] and "edit_gain" not in exact_summary
    # Split by direction: the labelled oracle draws each half of its change; the faint one a share
    # of both; 'up' a share of the raised AUs and all of the lowered ones.
    added = oracle_sets["added"][1]["edit"]
    assert labelled["entries_added"] > 0 and faint["gain_added"] < labelled["gain_added"]
    assert added["gain_added"] == pytest.approx(faint["gain_added"], abs=0.1) and added["gain_added"] < labelled["gain_added"]
    assert labelled["entries_removed"] > 0 and faint["gain_removed"] < labelled["gain_removed"]
    assert added["gain_removed"] == pytest.approx(labelled["gain_removed"], abs=0.05)


def test_a_blurred_oracle_is_the_exact_set_blurred_and_scored_against_it(oracle_sets):
    from jaxau.synthesis import oracle

    _, exact, exact_set = oracle_sets["exact"]
    summary, blurred, blurred_set = oracle_sets["blurred"]
    assert blurred["blur"] == 0.7 and exact["blur"] == 0.0 and blurred["plan_fingerprint"] == exact["plan_fingerprint"]
    np.testing.assert_array_equal(blurred_set["image"], oracle.gaussian_blur(np.asarray(exact_set["image"]), 0.7))
    for key in ("au_intensity", "source_index", "target_au", "target_level"):
        np.testing.assert_array_equal(blurred_set[key], exact_set[key])
    # Scored against the exact set like a generator: blurring the change as well as the face, it draws
    # part of the exact edit and adds a change of its own.
    edit = blurred["edit"]
    assert 0.0 < edit["gain"] < 0.9 and 0.0 < edit["cosine"] < 0.9 and edit["l1"] > 0.0
    assert summary["edit_cosine"] == edit["cosine"]


def test_a_natural_plan_oracle_renders_as_many_unbalanced_pairings_exactly(oracle_sets):
    from jaxau.stages import synthesis as synthesis_stage
    from jaxau.synthesis import plan as plan_lib

    _, exact_record, exact = oracle_sets["exact"]
    summary, record, natural = oracle_sets["natural"]
    config, raw, root = oracle_sets["context"]
    sources, _ = synthesis_stage.load_sets(config, {"sources": raw})
    sources = frames_lib.with_aus(sources, list(record["au_names"]))
    want = plan_lib.natural_plan(sources["au_intensity"], per_level=1, seed=int(config.seed))
    assert record["plan"] == "natural" and exact_record["plan"] == "semantic"
    assert record["plan_fingerprint"] == want.fingerprint() != exact_record["plan_fingerprint"]
    assert len(natural["image"]) == len(want) == len(record["au_names"]) * 6 and not record["skipped_cells"]
    np.testing.assert_array_equal(natural["au_intensity"], want.target_labels)
    np.testing.assert_array_equal(natural["subject"], np.asarray(sources["subject"])[want.source_index])
    # Every image is its source re-rendered with its target's expression (not the source frame).
    assert not np.array_equal(np.asarray(natural["image"]), np.asarray(sources["image"])[want.source_index])


def _regenerate(oracle_sets, tmp_path, set_name, **generator_settings):
    from jaxau.stages import frames as frames_stage, synthesis as synthesis_stage
    from tests.synthesis.test_synthesize import make_generator_dir

    config, raw, root = oracle_sets["context"]
    gdir = str(tmp_path / f"generator_{set_name}")
    os.makedirs(gdir)
    make_generator_dir(gdir, aus=frames_stage.aus(config), image_size=64, **generator_settings)
    out = str(tmp_path / f"regenerated_{set_name}")
    os.makedirs(out)
    synthesis_stage.check(config)
    summary = synthesis_stage.run_regenerate(config, out, {"set": str(root / set_name), "generator": gdir,
                                                           "sources": raw})
    with open(os.path.join(out, "regenerate.json")) as f:
        record = json.load(f)
    return gdir, summary, record, frames_lib.load(os.path.join(out, "synthetic.frames"))


def test_regenerate_draws_every_oracle_image_again_with_its_own_labels(oracle_sets, tmp_path):
    from jaxau.synthesis import synthesize
    from jaxau.train import generator as gen_train

    _, exact, exact_set = oracle_sets["exact"]
    gdir, summary, record, regen = _regenerate(oracle_sets, tmp_path, "exact")
    # The oracle set's labels, plan cells and real sources, every image G(oracle image | its labels).
    for key in ("au_intensity", "source_index", "target_au", "target_level", "subject", "pose_id", "au_names"):
        np.testing.assert_array_equal(regen[key], exact_set[key])
    assert set(regen["sequence"]) == {"regenerated"}
    trained = gen_train.load_generator(gdir)
    direct = synthesize.generate_images(trained.generator, trained.params, np.asarray(exact_set["image"]),
                                        exact_set["au_intensity"], batch_size=4)
    assert np.abs(direct.astype(int) - np.asarray(regen["image"]).astype(int)).max() <= 1
    change = np.abs(np.asarray(regen["image"], np.float64) - np.asarray(exact_set["image"], np.float64)).mean() / 255
    assert record["l1_change"] == pytest.approx(change, rel=1e-4) and change > 0.01  # untrained G repaints
    assert record["generator_pass"] and record["plan_fingerprint"] == exact["plan_fingerprint"]
    assert (record["strength"], record["expression_aus"], record["direction"]) == (1.0, "all", "both")
    # Scored against the exact oracle like a degraded oracle: an untrained G's paint is further
    # from the oracle than the oracle is from itself.
    e = record["edit"]
    assert e["entries"] == oracle_sets["faint"][1]["edit"]["entries"] and e["l1"] > 0.0
    assert summary["edit_l1"] == e["l1"] and summary["num_images"] == len(exact_set["image"])


def test_a_generator_that_keeps_its_input_returns_the_oracle_set_and_scores_as_the_oracle(oracle_sets, tmp_path):
    # attention_offset 60: the mask is 1 everywhere, so G(x | y) = x (the 'mask_source' composite).
    _, _, exact_set = oracle_sets["exact"]
    _, _, record, regen = _regenerate(oracle_sets, tmp_path, "exact", attention_offset=60.0)
    np.testing.assert_array_equal(np.asarray(regen["image"]), np.asarray(exact_set["image"]))
    assert record["l1_change"] == 0.0
    # Every entry whose exact edit is not zero scores gain and cosine 1 (zero-edit entries score 0):
    # the ceiling every degraded set is below.
    e = record["edit"]
    assert e["l1"] == pytest.approx(0.0, abs=1e-9) and 0.0 < e["gain"] == pytest.approx(e["cosine"], abs=1e-9)
    for name in ("half", "labelled", "faint"):
        assert oracle_sets[name][1]["edit"]["gain"] <= e["gain"] + 1e-9
    # Redrawing a faint oracle keeps it faint: the regenerated set is the faint set, scored as such.
    _, _, faint_record, faint_regen = _regenerate(oracle_sets, tmp_path, "faint", attention_offset=60.0)
    np.testing.assert_array_equal(np.asarray(faint_regen["image"]), np.asarray(oracle_sets["faint"][2]["image"]))
    assert faint_record["edit"]["gain"] == pytest.approx(oracle_sets["faint"][1]["edit"]["gain"], abs=1e-9)
    assert faint_record["strength"] == 0.4


def test_regenerate_refuses_a_generator_of_other_aus(oracle_sets, tmp_path):
    from jaxau.stages import synthesis as synthesis_stage
    from tests.synthesis.test_synthesize import make_generator_dir

    config, raw, root = oracle_sets["context"]
    gdir = str(tmp_path / "g")
    os.makedirs(gdir)
    make_generator_dir(gdir, image_size=64)  # AU01, AU06, AU12 only
    with pytest.raises(ValueError, match="draws"):
        synthesis_stage.run_regenerate(config, str(tmp_path), {"set": str(root / "exact"), "generator": gdir,
                                                               "sources": raw})
    # An oracle set planned with another seed than this stage's: refused before anything is drawn.
    from jaxau.stages import frames as frames_stage

    gdir = str(tmp_path / "g7")
    os.makedirs(gdir)
    make_generator_dir(gdir, aus=frames_stage.aus(config), image_size=64)
    other = copy.deepcopy(config)
    other.seed = int(config.seed) + 1
    out = str(tmp_path / "out")
    os.makedirs(out)
    with pytest.raises(ValueError, match="planned from other sources or settings"):
        synthesis_stage.run_regenerate(other, out, {"set": str(root / "exact"), "generator": gdir, "sources": raw})
    assert not os.path.exists(os.path.join(out, "chunks"))


@pytest.mark.parametrize("field,value,message", [
    ("strength", 0.0, "oracle.strength"), ("strength", 2.5, "oracle.strength=2.5"),
    ("expression_aus", "some", "oracle.expression_aus"), ("blur", -0.5, "oracle.blur=-0.5")])
def test_oracle_settings_are_checked_before_any_work(field, value, message):
    import configs.demo as demo
    from jaxau.stages import synthesis as synthesis_stage

    config = demo.get_config()
    config.oracle[field] = value
    with pytest.raises(validate.ConfigError, match=message):
        synthesis_stage.check_oracle(config)


def test_exact_partners_render_each_same_sequence_pair_with_the_partners_generator_aus(oracle_sets):
    from jaxau.face import au_mapping
    from jaxau.stages import frames as frames_stage
    from jaxau.stages import generator as generator_stage
    from jaxau.synthesis import oracle
    from jaxau.train import generator as gen_train

    config, raw, _ = oracle_sets["context"]
    cfg = copy.deepcopy(config)
    cfg.generator.partners = "oracle"
    generator_stage.check(cfg)
    aus = frames_stage.aus(cfg)
    train = frames_lib.with_aus(frames_lib.select_poses(frames_lib.load(os.path.join(raw, "train.npz")),
                                                        cfg.data.train_poses, "train"), aus)
    exact = generator_stage.exact_partners(cfg, {"frames": raw}, train)
    src, par = gen_train.oracle_pairs(train, int(cfg.seed))
    np.testing.assert_array_equal(exact.sources, src)
    np.testing.assert_array_equal(exact.partners, par)
    assert len(src) > 0 and exact.ok.all() and exact.image.shape == (len(src), 64, 64, 3)
    for field in ("subject", "sequence"):
        np.testing.assert_array_equal(train[field][src], train[field][par])
    # By hand: the source's request with the partner's intensities of the generator's AUs (every
    # other AU the source's), rendered as the frames were.
    index = oracle.RequestIndex(oracle.synthfacs_config(cfg.data.name))
    renderer = oracle.OracleRenderer(cfg, "raw")
    take = [au_mapping.SIMULATED_AUS.index(a) for a in aus]
    picks = np.random.default_rng(0).choice(len(src), min(4, len(src)), replace=False)
    changed = 0
    for k in picks:
        requests = [index.request(train["subject"][i], train["sequence"][i], train["frame"][i])
                    for i in (src[k], par[k])]
        intensity = np.array(requests[0]["intensity"], np.float32, copy=True)
        intensity[take] = np.asarray(requests[1]["intensity"], np.float32)[take]
        direct = renderer.render([{**requests[0], "intensity": intensity}]).image[0]
        np.testing.assert_array_equal(exact.image[k], direct)
        changed += not np.array_equal(direct, train["image"][src[k]])
    assert changed >= 1    # the partner's expression drawn on the source
