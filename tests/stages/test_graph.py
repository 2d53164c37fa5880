"""Experiment graphs: column grammar, domains, overrides, and stage sharing across experiments."""

import collections
import importlib

import pytest

from configs.paper import base
from jaxau.stages import STAGES, graph
from jaxau.validate import ConfigError

PAPER_CONFIGS = ("table2", "table3", "table4", "table_s1", "table_s2", "table_s3", "table_s4", "table_s5",
                 "fig3", "fig5", "exact_registration", "synthetic_gap", "real_levels", "personal_norm")


def _config(name, arg="cpu"):
    return importlib.import_module(f"configs.paper.{name}").get_config(arg)


def _by_stage(planned):
    out = collections.defaultdict(list)
    for n in planned.nodes:
        out[n.stage.name].append(n)
    return out


def _node(planned, name):
    return next(n for n in planned.nodes if n.name == name)


def test_demo_plans_four_columns_and_the_default_columns_are_five():
    import configs.demo as demo
    from configs.paper import base

    p = graph.plan(demo.get_config(), STAGES)
    assert sorted(c.label for c in p.columns) == ["Oracle synthetic, 3D registration", "Real, 2D registration",
                                                  "Real, 3D registration", "Synthetic, 3D registration"]
    counts = {k: len(v) for k, v in _by_stage(p).items()}
    assert counts == {"data": 1, "registration": 1, "register_2d": 1, "register_3d": 1,
                      "generator": 1, "synthesis": 1, "oracle": 1, "estimator": 4, "score": 4}
    # A config without columns gets the main job's five (jaxau.stages.graph.DEFAULT_COLUMNS).
    full = graph.plan(base.base_config("cpu"), STAGES)
    assert [c.label for c in full.columns] == [label for _, label, _ in graph.DEFAULT_COLUMNS]
    counts = {k: len(v) for k, v in _by_stage(full).items()}
    assert counts == {"data": 1, "frames_raw": 1, "registration": 1, "register_2d": 1, "register_3d": 1,
                      "generator": 1, "synthesis": 1, "oracle": 1, "estimator": 5, "score": 5}
    # Dependencies come before their dependents.
    for planned in (p, full):
        seen = set()
        for n in planned.nodes:
            assert set(n.deps.values()) <= seen, n.name
            seen.add(n.name)


def test_columns_follow_the_order_a_config_lists_them():
    import configs.demo as demo

    c = demo.get_config()
    assert [col.id for col in graph.plan(c, STAGES).columns] == ["real_2d", "real_3d", "synthetic_3d", "oracle_3d"]
    # Unlisted columns follow the listed ones in key order; an empty order is the key order.
    c.experiment.column_order = "synthetic_3d"
    assert [col.id for col in graph.columns(c)] == ["synthetic_3d", "oracle_3d", "real_2d", "real_3d"]
    c.experiment.column_order = ""
    assert [col.id for col in graph.columns(c)] == ["oracle_3d", "real_2d", "real_3d", "synthetic_3d"]
    for bad, match in (("real_2d,nope", r"column_order names \['nope'\]"), ("real_2d,real_2d", "twice")):
        c.experiment.column_order = bad
        with pytest.raises(ConfigError, match=match):
            graph.columns(c)
    # Every paper config lists its columns in the order it writes them (the paper's table order).
    for name in PAPER_CONFIGS:
        config = importlib.import_module(f"configs.paper.{name}").get_config("cpu,lambda_exp" if name == "fig3"
                                                                            else "cpu")
        ids = [col.id for col in graph.columns(config)]
        if config.experiment.columns:
            assert config.experiment.column_order.split(",") == ids, name
    t2 = [col.label for col in graph.columns(_config("table2"))]
    assert t2 == ["2D Real", "2D Synthetic", "3D Real", "3D Synthetic", "3D Oracle synthetic", "2D Oracle synthetic"]


def test_overrides_parse_convert_and_reject_unknown_fields():
    assert graph.parse_overrides("a.b=1; c.d = au0 ;e.f=False") == [("a.b", 1), ("c.d", "au0"), ("e.f", False)]
    c = _config("table2")
    out = graph.apply_overrides(c, "generator.lambda_exp=40; estimator.normalization=mean")
    assert out.generator.lambda_exp == 40.0 and isinstance(out.generator.lambda_exp, float)
    assert out.estimator.normalization == "mean" and c.estimator.normalization == "none"
    with pytest.raises(ConfigError, match="generator.lambda_typo"):
        graph.apply_overrides(c, "generator.lambda_typo=1")
    # No lossy conversions: an int field does not silently truncate 0.5, a bool is not an int.
    with pytest.raises(ConfigError, match="expected int, got float"):
        graph.apply_overrides(c, "generator.num_steps=0.5")
    with pytest.raises(ConfigError, match="expected bool, got int"):
        graph.apply_overrides(c, "generator.attention=0")
    assert graph.apply_overrides(c, "align2d.pose=30").align2d.pose == "30"
    with pytest.raises(ConfigError, match="section.field=value"):
        graph.parse_overrides("generator.lambda_exp")


def test_overrides_move_the_fields_derived_from_them_as_the_command_line_does():
    # The CPU estimator's warm-up is 1/12 of num_steps (a reference). A column's (or a benchmark's)
    # override of num_steps must move it, as --config.estimator.num_steps does: the two routes must
    # plan the same estimator node, and the original config must be left as it was.
    c = _config("table2", "medium")
    out = graph.apply_overrides(c, "estimator.num_steps=6000")
    assert (out.estimator.num_steps, out.estimator.warmup_steps) == (6000, 500)
    assert (c.estimator.num_steps, c.estimator.warmup_steps) == (3000, 250)
    flag = _config("table2", "medium")
    flag.estimator.num_steps = 6000  # what config_flags does with --config.estimator.num_steps=6000
    planned = [graph.plan(x, STAGES) for x in (out, flag)]
    assert planned[0].outputs == planned[1].outputs
    assert graph.plan(c, STAGES).outputs["real_3d"] != planned[0].outputs["real_3d"]
    out.estimator.num_steps = 600  # the copy's references are its own
    assert c.estimator.warmup_steps == 250 and out.estimator.warmup_steps == 50


def test_bad_column_specs_are_config_errors_naming_the_column():
    c = _config("table2")
    c.experiment.columns.real_2d.train = "real:4d"
    with pytest.raises(ConfigError, match="columns.real_2d.train"):
        graph.plan(c, STAGES)
    c = _config("table2")
    c.experiment.columns.real_2d.test = "3d@mars"
    with pytest.raises(ConfigError, match="domain 'mars' is not defined"):
        graph.plan(c, STAGES)
    c = _config("table2")
    c.experiment.columns.real_2d.train = "internal+real:2d"
    with pytest.raises(ConfigError, match="cannot be combined"):
        graph.plan(c, STAGES)


def test_real_data_trains_registration_on_synthfacs():
    c = _config("table2")
    c.data.name = "fera2017"
    c.registration.domain = ""   # Explicitly the main data: impossible for a real dataset.
    with pytest.raises(ConfigError, match="registration.domain=synthfacs"):
        graph.plan(c, STAGES)
    c.registration.domain = "auto"   # The default.
    p = graph.plan(c, STAGES)
    (reg,) = _by_stage(p)["registration"]
    synthfacs = c.domains.synthfacs.name
    assert reg.config.data.name == synthfacs and synthfacs.startswith("synthfacs/")
    assert sorted(n.config.data.name for n in _by_stage(p)["data"]) == ["fera2017", synthfacs]


def test_critic_width_per_size():
    # CPU: the wider critic measured at demo size; :medium keeps the width its Table 2 was measured
    # with; :paper ganimation_replicate's.
    assert [_config("table2", size).generator.d_width for size in ("cpu", "medium", "paper")] == [32, 16, 64]


def test_generator_updates_per_size():
    # CPU: a generator update in every iteration (340 in the demo's generator seconds, where every
    # 2nd gave 240); :medium 1,500 updates at n_critic 2 (500 left its edits faint: the synthetic 3D
    # column +0.156 with three times as many); :paper the replicate's.
    configs = [_config("table2", size).generator for size in ("cpu", "medium", "paper")]
    assert [(g.n_critic, g.num_steps, g.critic_warmup) for g in configs] == [
        (1, 840, 500), (2, 3500, 500), (5, 150_000, 0)]


def test_the_edit_scale_calibration_wires_the_real_reader_on_any_dataset():
    def synthesis_3d(p):
        return _node(p, _node(p, _node(p, p.outputs["synthetic_3d"]).deps["model"]).deps["train_set0"])

    c = _config("table2")
    assert c.synthesis.calibrate_edit_scale and not _config("table2", "paper").synthesis.calibrate_edit_scale
    assert not _config("table2", "medium").synthesis.calibrate_edit_scale   # measured: off at :medium
    c.data.name = "fera2017"
    c.synthesis.calibrate_edit_scale = False
    syn = synthesis_3d(graph.plan(c, STAGES))
    assert "reader" not in syn.deps   # no oracle renders of FERA: no fidelity, no reader
    c.synthesis.calibrate_edit_scale = True
    p = graph.plan(c, STAGES)
    syn = synthesis_3d(p)
    # The reader is the real column's model of the same registration (3D), trained on FERA frames.
    assert syn.deps["reader"] == _node(p, p.outputs["real_3d"]).deps["model"]
    assert _node(p, syn.deps["reader"]).config.data.name == "fera2017" and "registration" not in syn.deps
    c.synthesis.edit_scale = 2.0
    with pytest.raises(ConfigError, match="the calibration chooses the scale"):
        synthesis_3d(graph.plan(c, STAGES)).stage.check_config(c)
    c.synthesis.edit_scale, c.synthesis.edit_scale_max = 1.0, 0.75
    with pytest.raises(ConfigError, match="edit_scale_max=0.75"):
        synthesis_3d(graph.plan(c, STAGES)).stage.check_config(c)


def test_how_the_generators_images_are_drawn_does_not_touch_the_oracle_set():
    c = _config("table2")
    p = graph.plan(c, STAGES)
    changed = graph.plan(graph.apply_overrides(c, "synthesis.calibrate_edit_scale=False; synthesis.edit_scale=2.0; "
                                                  "synthesis.edit_scale_max=2.0; synthesis.calibration_per_cell=3"),
                         STAGES)
    oracle = lambda q: sorted(n.name for n in _by_stage(q)["oracle"])  # noqa: E731
    synthesis = lambda q: sorted(n.name for n in _by_stage(q)["synthesis"])  # noqa: E731
    assert oracle(p) == oracle(changed) and not set(synthesis(p)) & set(synthesis(changed))
    # The plan's own settings still key the oracle set.
    assert oracle(graph.plan(graph.apply_overrides(c, "synthesis.per_level=7"), STAGES)) != oracle(p)


def test_degraded_oracle_columns_share_the_plan_and_key_only_the_oracle_set():
    c = _config("synthetic_gap")
    p = graph.plan(c, STAGES)
    stages = _by_stage(p)
    # Seven generators (GANimation's, own partners, relative AUs, a critic seeing shifted inputs,
    # exact paired targets, and GANimation's and the relative one on change-balanced pairs), seven oracle sets (exact, labelled AUs, faint labelled AUs at
    # two strengths: every change; only the raised AUs, only the lowered ones; the exact set
    # blurred), the exact set redrawn by each of the first three.
    assert len(stages["generator"]) == 7 and len(stages["oracle"]) == 7 and len(stages["regenerate"]) == 3
    frame_sampled = [n for n in stages["generator"] if n.config.generator.sampling == "frames"]
    pairs = [n for n in stages["generator"] if n.config.generator.sampling == "pairs"]
    assert len(frame_sampled) == 5 and len(pairs) == 2
    exact = [n for n in frame_sampled if n.config.generator.partners == "oracle"]
    assert len(exact) == 1 and exact[0].deps["registration"] and not exact[0].config.generator.own_fraction
    assert exact[0].config.generator.conditioning == "absolute" and not exact[0].config.generator.d_augment_shift
    aug = [n for n in frame_sampled if n.config.generator.d_augment_shift]
    assert len(aug) == 1 and aug[0].config.generator.d_augment_shift == 2
    assert aug[0].config.generator.conditioning == "absolute" and not aug[0].config.generator.own_fraction
    assert sorted(n.config.generator.conditioning for n in pairs) == ["absolute", "relative"]
    own = [n for n in frame_sampled if n.config.generator.own_fraction]
    assert len(own) == 1 and own[0].config.generator.own_fraction == 0.25
    rel = [n for n in frame_sampled if n.config.generator.conditioning == "relative"]
    assert len(rel) == 1 and rel[0].name != own[0].name and not rel[0].config.generator.own_fraction
    # The first generator: one synthesis per edit scale (calibrated, 1.5, 2), one drawing the edit
    # and one at the real set's size; the own-partner one: its images at edit scale 1 and 2; the
    # relative one: at 1 and 1.5; the shifted critic's, the exact-pair one and each pair-balanced
    # one: one set.
    first = [g for g in frame_sampled if g.name not in (own[0].name, rel[0].name, aug[0].name, exact[0].name)]
    by_generator = [sorted(float(n.config.synthesis.edit_scale) for n in stages["synthesis"]
                           if n.deps["generator"] == g.name) for g in (own[0], rel[0], *first, aug[0], exact[0], *pairs)]
    assert by_generator == [[1.0, 2.0], [1.0, 1.5], [1.0, 1.0, 1.0, 1.5, 2.0], [1.0], [1.0], [1.0], [1.0]]
    assert sorted(int(n.config.synthesis.per_level) for n in stages["synthesis"]) == [17] + [60] * 12
    redrawn_by = sorted(n.deps["generator"] for n in stages["regenerate"])
    assert redrawn_by == sorted(g.name for g in frame_sampled if g.name not in (aug[0].name, exact[0].name))
    sets = {col: _node(p, _node(p, _node(p, p.outputs[col]).deps["model"]).deps["train_set0"])
            for col in ("oracle_3d", "labelled_3d", "faint_3d", "faint70_3d", "faint_added_3d", "faint_removed_3d",
                        "blurred_3d", "synthetic_3d")}
    settings = lambda n: (n.config.oracle.strength, n.config.oracle.expression_aus, n.config.oracle.direction,  # noqa: E731
                          n.config.oracle.blur)
    assert sorted(settings(n) for col, n in sets.items() if col != "synthetic_3d") == [
        (0.4, "labelled", "both", 0.0), (0.4, "labelled", "down", 0.0), (0.4, "labelled", "up", 0.0),
        (0.7, "labelled", "both", 0.0), (1.0, "all", "both", 0.0), (1.0, "all", "both", 0.4),
        (1.0, "labelled", "both", 0.0)]
    syn = sets.pop("synthetic_3d")
    for orc in sets.values():
        assert orc.deps["sources"] == syn.deps["sources"] and orc.deps["registration"] == syn.deps["registration"]
        assert orc.config.synthesis.to_dict() == syn.config.synthesis.to_dict()
    # The exact oracle is the demo's; the oracle section changes no other stage (but the set redrawn from it).
    demo = graph.plan(importlib.import_module("configs.demo").get_config(), STAGES)
    assert sets["oracle_3d"].name in {n.name for n in demo.nodes}
    others = lambda q: sorted(n.name for n in q.nodes if n.stage.name not in ("oracle", "regenerate", "estimator", "score"))  # noqa: E731
    changed = graph.plan(graph.apply_overrides(c, "oracle.strength=0.7"), STAGES)
    assert others(changed) == others(p) and {n.name for n in _by_stage(changed)["oracle"]} != {n.name for n in stages["oracle"]}
    # The report's comparisons walk down the ladder.
    assert c.experiment.compare.replace(" ", "").split(",")[2:] == [
        "oracle_3d>labelled_3d", "labelled_3d>faint_3d", "faint_3d>synthetic_3d", "labelled_3d>faint_added_3d",
        "labelled_3d>faint_removed_3d", "faint_added_3d>faint_removed_3d", "synthetic_3d>faint_added_3d",
        "labelled_3d>faint70_3d", "faint70_3d>synthetic_3d", "synthetic_k15_3d>synthetic_3d",
        "synthetic_k2_3d>synthetic_3d", "labelled_3d>synthetic_k2_3d", "synthetic_k15_3d>real_3d",
        "oracle_3d>regenerated_3d", "regenerated_3d>synthetic_3d", "regenerated_3d>real_3d",
        "synthetic_edit_3d>synthetic_3d", "oracle_3d>synthetic_edit_3d", "synthetic_edit_3d>real_3d",
        "oracle_3d>blurred_3d", "blurred_3d>regenerated_3d", "regenerated_own_3d>regenerated_3d",
        "oracle_3d>regenerated_own_3d", "synthetic_own_3d>synthetic_3d", "regenerated_own_3d>synthetic_own_3d",
        "synthetic_own_k2_3d>synthetic_own_3d", "synthetic_own_k2_3d>synthetic_3d", "synthetic_own_k2_3d>real_3d",
        "synthetic_rel_3d>synthetic_3d", "regenerated_rel_3d>regenerated_3d", "oracle_3d>regenerated_rel_3d",
        "regenerated_rel_3d>synthetic_rel_3d", "synthetic_rel_3d>real_3d", "synthetic_rel_k15_3d>synthetic_rel_3d",
        "synthetic_rel_k15_3d>real_3d", "synthetic_small_3d>synthetic_3d", "synthetic_small_3d>real_3d",
        "oracle_3d>synthetic_small_3d", "synthetic_pairs_3d>synthetic_3d", "synthetic_pairs_3d>real_3d",
        "synthetic_rel_pairs_3d>synthetic_rel_3d", "synthetic_rel_pairs_3d>real_3d",
        "oracle_3d>synthetic_rel_pairs_3d", "synthetic_aug_3d>synthetic_3d", "synthetic_aug_3d>real_3d",
        "synthetic_exact_pairs_3d>synthetic_3d", "synthetic_exact_pairs_3d>real_3d",
        "oracle_3d>synthetic_exact_pairs_3d"]


def _assert_left_out_at_default(section: str, field: str) -> None:
    """A setting at its default changes no key: a table2 config written without it plans the same nodes."""
    new, old = _config("table2"), _config("table2")
    del old[section][field]
    assert sorted(n.name for n in graph.plan(old, STAGES).nodes) == sorted(n.name for n in graph.plan(new, STAGES).nodes)


def test_the_edit_draw_keys_only_the_generated_set_and_image_draw_keeps_every_key():
    c = _config("synthetic_gap")
    p = graph.plan(c, STAGES)
    train_set = lambda col: _node(p, _node(p, _node(p, p.outputs[col]).deps["model"]).deps["train_set0"])  # noqa: E731
    edit, image = train_set("synthetic_edit_3d"), train_set("synthetic_3d")
    assert edit.config.synthesis.draw == "edit" and image.config.synthesis.draw == "image"
    assert edit.name != image.name and edit.deps == image.deps
    # Drawing the edit changes the generated sets (and what trains on them), never the oracle sets,
    # the redrawn oracle (always G's image) or anything upstream.
    names = lambda q, kinds: sorted(n.name for n in q.nodes if n.stage.name in kinds)  # noqa: E731
    changed = graph.plan(graph.apply_overrides(c, "synthesis.draw=edit"), STAGES)
    kept = ("data", "registration", "register_2d", "register_3d", "generator", "oracle", "regenerate")
    assert names(changed, kept) == names(p, kept)
    assert not set(names(changed, ("synthesis",))) - {edit.name} & set(names(p, ("synthesis",)))
    # 'image' (the paper's draw) is left out of every key: configs written before the setting keep
    # their stages.
    _assert_left_out_at_default("synthesis", "draw")


def _assert_override_keys(override: str, kept: tuple, changed_kinds: tuple):
    """Table 2 with ``override``: the ``kept`` stages keep their keys, every stage of ``changed_kinds``
    gets a new one; the setting at its default is left out of every key (`_assert_left_out_at_default`:
    stages made before it existed stay cached). Returns the changed plan."""
    c = _config("table2")
    p = graph.plan(c, STAGES)
    names = lambda q, kinds: sorted(n.name for n in q.nodes if n.stage.name in kinds)  # noqa: E731
    changed = graph.plan(graph.apply_overrides(c, override), STAGES)
    assert names(changed, kept) == names(p, kept)
    for kind in changed_kinds:
        assert names(changed, (kind,)) and not set(names(changed, (kind,))) & set(names(p, (kind,)))
    section, field = override.split("=")[0].split(".")
    _assert_left_out_at_default(section, field)
    return changed


def test_own_partners_and_relative_aus_key_the_generator_and_its_sets_and_their_defaults_keep_every_key():
    # 0 and 'absolute' are GANimation's.
    for override in ("generator.own_fraction=0.25", "generator.conditioning=relative"):
        _assert_override_keys(override, ("data", "registration", "register_2d", "register_3d", "oracle"),
                              ("generator", "synthesis"))


def test_the_natural_plan_keys_the_oracle_and_synthetic_sets_only_and_the_default_keeps_every_key():
    from jaxau.stages import synthesis as synthesis_stage

    c = _config("table2")
    changed = _assert_override_keys("synthesis.plan=natural",
                                    ("data", "registration", "register_2d", "register_3d", "generator"),
                                    ("oracle", "synthesis"))
    # configs/paper/real_levels.py: the natural oracle columns are the changed plan's oracle columns.
    levels = graph.plan(_config("real_levels"), STAGES)
    for col in ("oracle_2d", "oracle_3d"):
        assert levels.replicates[f"{col[:6]}_natural{col[6:]}"] == changed.replicates[col]
    # The re-paired real frames and the balanced plan at the real training set's size (720 frontal
    # frames at :cpu): the natural / semantic plan at 17 entries per cell, their own oracle renders.
    assert base.real_size_per_level(c) == 720 // (7 * 6)
    assert base.real_size_per_level(_config("table2", "medium")) == 2700 // (7 * 6)
    shuffled = graph.plan(graph.apply_overrides(c, "synthesis.plan=natural; synthesis.per_level=17"), STAGES)
    small = graph.plan(graph.apply_overrides(c, "synthesis.per_level=17"), STAGES)
    for col in ("oracle_2d", "oracle_3d"):
        assert levels.replicates[f"{col[:6]}_shuffled{col[6:]}"] == shuffled.replicates[col]
        assert levels.replicates[f"{col[:6]}_small{col[6:]}"] == small.replicates[col]
        table2 = graph.plan(c, STAGES).replicates[col]
        assert len({str(q) for q in (shuffled.replicates[col], small.replicates[col], changed.replicates[col],
                                     table2)}) == 4
    bad = graph.apply_overrides(c, "synthesis.plan=balanced")
    with pytest.raises(ConfigError, match="synthesis.plan"):
        synthesis_stage.check_oracle(bad)


def test_a_level_weighted_real_pool_keys_only_the_estimators_and_the_default_keeps_every_key():
    c = _config("table2")
    p = graph.plan(c, STAGES)
    changed = graph.plan(graph.apply_overrides(c, "estimator.real_pool=levels"), STAGES)
    # The synthesis stage changes with its reader (the real column's estimator scores its fidelity).
    upstream = lambda q: sorted(n.name for n in q.nodes  # noqa: E731
                                if n.stage.name not in ("estimator", "score", "synthesis"))
    assert upstream(changed) == upstream(p) and any(n.stage.name == "oracle" for n in p.nodes)
    assert not {n.name for n in _by_stage(changed)["estimator"]} & {n.name for n in _by_stage(p)["estimator"]}
    _assert_left_out_at_default("estimator", "real_pool")
    # configs/paper/real_levels.py: Table 2's real and oracle columns (the same nodes) beside the
    # level-weighted ones.
    levels = graph.plan(_config("real_levels"), STAGES)
    for col in ("real_2d", "real_3d", "oracle_2d", "oracle_3d"):
        assert levels.replicates[col] == p.replicates[col]
    for col, reg in (("real_levels_2d", "real_2d"), ("real_levels_3d", "real_3d")):
        assert levels.replicates[col] == changed.replicates[reg]


def test_a_regenerated_column_redraws_the_exact_oracle_set_with_the_synthetic_columns_generator():
    c = _config("synthetic_gap")
    p = graph.plan(c, STAGES)
    train_set = lambda col: _node(p, _node(p, _node(p, p.outputs[col]).deps["model"]).deps["train_set0"])  # noqa: E731
    regen, orc, syn = train_set("regenerated_3d"), train_set("oracle_3d"), train_set("synthetic_3d")
    assert regen.stage.name == "regenerate" and len(_by_stage(p)["regenerate"]) == 3
    # The own-partner column's redraw: the same exact set, its own generator.
    own = train_set("regenerated_own_3d")
    assert own.deps["set"] == regen.deps["set"] and own.deps["generator"] != regen.deps["generator"]
    # The relative-AU column's redraw: the same exact set, its own generator (neither of the others).
    rel = train_set("regenerated_rel_3d")
    assert rel.deps["set"] == regen.deps["set"]
    assert rel.deps["generator"] not in (regen.deps["generator"], own.deps["generator"])
    # The exact oracle node the oracle column trains on, the generator the synthesis draws with, and
    # the oracle's own inputs (the edit is scored against exact renders of the same plan).
    assert regen.deps["set"] == orc.name and regen.deps["generator"] == syn.deps["generator"]
    assert sorted(regen.deps) == ["generator", "registration", "set", "sources"]
    assert regen.deps["sources"] == orc.deps["sources"] and regen.deps["registration"] == orc.deps["registration"]
    # How G's images are drawn keys the regenerated set (unlike the oracle set).
    k2 = graph.plan(graph.apply_overrides(c, "synthesis.edit_scale=2.0; synthesis.calibrate_edit_scale=False"), STAGES)
    assert {n.name for n in _by_stage(k2)["regenerate"]} != {regen.name}
    assert {n.name for n in _by_stage(k2)["oracle"]} == {n.name for n in _by_stage(p)["oracle"]}
    # Other data: left out with one line, like the oracle columns.
    c.experiment.columns = {"real_3d": c.experiment.columns.real_3d, "regenerated_3d": c.experiment.columns.regenerated_3d}
    c.experiment.column_order = ""
    c.data.name = "fera2017"
    q = graph.plan(c, STAGES)
    assert "regenerated_3d" not in q.outputs and "is not SynthFACS" in q.skipped["regenerated_3d"]
    assert not {"regenerate", "oracle"} & set(_by_stage(q))
    with pytest.raises(ConfigError, match="regenerated:<reg>"):
        graph._parse_part("redrawn:3d", "here")


def test_cross_domain_columns_wire_sources_targets_and_test_sets():
    c = _config("table4")
    p = graph.plan(c, STAGES)
    stages = _by_stage(p)
    # Two column models and the fidelity reader (the real 3D estimator both syntheses share).
    assert len(stages["generator"]) == 1 and len(stages["synthesis"]) == 2 and len(stages["estimator"]) == 3
    readers = {n.deps["reader"] for n in stages["synthesis"]}
    assert len(readers) == 1 and sorted(_node(p, readers.pop()).deps) == ["registration", "train_real0",
                                                                          "validation"]
    # MultiPIE -> FERA: sources re-animated from MultiPIE, target labels from FERA training frames.
    score = _node(p, p.outputs["multipie_fera"])
    synth = _node(p, _node(p, score.deps["model"]).deps["train_set0"])
    assert synth.config.synthesis.source_domain == "multipie"
    assert _node(p, synth.deps["sources"]).config.data.name == "synthfacs/multipie_small"
    assert _node(p, synth.deps["targets"]).config.data.name == c.data.name
    assert score.config.eval.splits == "test" and score.config.eval.poses == "4"
    # FERA -> DISFA: every DISFA split, only the FERA AUs DISFA codes, all poses.
    score = _node(p, p.outputs["fera_disfa"])
    assert _node(p, score.deps["test"]).config.data.name == "synthfacs/disfa_small"
    assert score.config.eval.splits == "train,validation,test" and score.config.eval.poses == ""
    assert score.config.eval.aus == "AU01,AU04,AU06,AU12,AU17"
    # The same trained model scores FERA -> DISFA and is Table 2's 3D-synthetic model.
    t2 = graph.plan(_config("table2"), STAGES)
    assert _node(t2, t2.outputs["synthetic_3d"]).deps["model"] == score.deps["model"]


def test_oracle_columns_share_the_synthesis_plan_inputs_and_refuse_other_datasets():
    c = _config("table2")
    p = graph.plan(c, STAGES)
    orc = _node(p, _node(p, _node(p, p.outputs["oracle_3d"]).deps["model"]).deps["train_set0"])
    syn = _node(p, _node(p, _node(p, p.outputs["synthetic_3d"]).deps["model"]).deps["train_set0"])
    assert orc.stage.name == "oracle" and sorted(orc.deps) == ["registration", "sources"]
    assert orc.deps["sources"] == syn.deps["sources"] and orc.deps["registration"] == syn.deps["registration"]
    assert orc.config.synthesis.to_dict() == syn.config.synthesis.to_dict()
    # The reader of the synthesis fidelity is the real 3D column's model.
    assert syn.deps["reader"] == _node(p, p.outputs["real_3d"]).deps["model"]
    # On other data the column is left out with one line saying why; the other columns still run.
    c.data.name = "fera2017"
    p = graph.plan(c, STAGES)
    assert "oracle_3d" not in p.outputs and [col.id for col in p.columns] == ["real_2d", "synthetic_2d",
                                                                                "real_3d", "synthetic_3d"]
    assert p.skipped["oracle_3d"].startswith("config.experiment.columns.oracle_3d.train='oracle:3d': oracle sets "
                                             "render SynthFACS frames exactly, but 'fera2017' is not SynthFACS")
    assert "oracle" not in _by_stage(p)
    c = _config("table2")
    c.experiment.columns.oracle_3d.train = "oracle:3d@disfa"
    c.domains.disfa.name = "disfa"
    assert "'disfa' is not SynthFACS" in graph.plan(c, STAGES).skipped["oracle_3d"]
    # The builder itself refuses too (a column that bypasses the plan's check).
    with pytest.raises(ConfigError, match="'disfa' is not SynthFACS"):
        graph._Builder(STAGES).oracle(graph.domain_config(c, ""), "3d", "disfa", "here")


def test_training_synthesis_is_the_set_that_trains_the_column():
    # Table 2 plans a 2-D and a 3-D synthesis: each synthetic column's own, in either order of the graph.
    p = graph.plan(_config("table2", "medium"), STAGES)
    assert len(_by_stage(p)["synthesis"]) == 2
    for column, registered in (("synthetic_3d", "register_3d"), ("synthetic_2d", "register_2d")):
        syn = p.training_synthesis(column)
        assert syn.stage.name == "synthesis" and _node(p, syn.deps["sources"]).stage.name == registered
        assert syn.name == _node(p, _node(p, p.outputs[column]).deps["model"]).deps["train_set0"]
    # Columns that train on no generated set, and columns the graph does not have.
    assert p.training_synthesis("real_3d") is None and p.training_synthesis("oracle_3d") is None
    assert p.training_synthesis("no_such_column") is None
    demo = graph.plan(importlib.import_module("configs.demo").get_config(), STAGES)
    assert demo.training_synthesis("synthetic_3d") is _by_stage(demo)["synthesis"][0]


def test_combined_internal_and_augmented_columns():
    p = graph.plan(_config("table_s1"), STAGES)
    model = _node(p, _node(p, p.outputs["fera_real_multipie_synthetic"]).deps["model"])
    assert sorted(model.deps) == ["registration", "sources1", "train_real0", "train_set1", "validation"]
    # The registration network the model's frames were registered with, and the synthetic set's
    # sources (the frames it was resampled from: its normalisation references) are inputs.
    assert _node(p, model.deps["registration"]).stage.name == "registration"
    assert model.deps["sources1"] == _node(p, model.deps["train_set1"]).deps["sources"]
    p = graph.plan(_config("table_s4"), STAGES)
    internal = _node(p, p.outputs["internal"])
    assert internal.stage.name == "internal" and sorted(internal.deps) == ["generator", "test"]
    gens = _by_stage(p)["generator"]
    assert sorted(g.config.generator.attention for g in gens) == [False, True]
    p = graph.plan(_config("fig5"), STAGES)
    model = _node(p, _node(p, p.outputs["c_augmented"]).deps["model"])
    assert _node(p, model.deps["train_set0"]).stage.name == "augment"
    assert _node(p, _node(p, p.outputs["c_augmented"]).deps["test"]).stage.name == "register_2d"


def test_experiments_share_every_stage_they_have_in_common():
    nodes = {name: {n.name for n in graph.plan(_config(name), STAGES).nodes} for name in PAPER_CONFIGS}
    new = lambda name, *before: sorted(n.split("-")[0] for n in nodes[name] - set().union(*(nodes[b] for b in before)))
    assert new("table3", "table2") == ["estimator", "estimator", "score", "score"]
    assert new("fig5", "table2") == ["augment", "estimator", "score", "score", "score"]
    assert new("table_s2", "table_s1", "table4") == ["score"] * 4
    assert new("table_s3", "table2") == ["estimator", "generator", "score", "synthesis"]
    # Four lambda_exp values, one of them the baseline (Table 2's chain).
    assert new("fig3", "table2") == sorted(["estimator", "generator", "score", "synthesis"] * 3)
    # personal_norm.py: its plain columns are Table 2's / synthetic_gap's nodes; each normalised column
    # adds only its estimator, on the same training set as its plain column.
    assert new("personal_norm", "table2", "synthetic_gap") == sorted(
        ["estimator", "score"] * 4)
    norm = graph.plan(_config("personal_norm"), STAGES)
    for col in ("real", "oracle", "synthetic", "synthetic_rel_pairs"):
        plain, mean = (_node(norm, _node(norm, norm.outputs[c]).deps["model"]) for c in (f"{col}_3d", f"{col}_mean_3d"))
        assert plain.deps == mean.deps and plain.name != mean.name
        assert mean.config.estimator.normalization == "mean" and plain.config.estimator.normalization == "none"


def test_exact_registration_methods_subset_is_the_full_configs_exact_columns():
    full = graph.plan(_config("exact_registration", "medium"), STAGES)
    config = _config("exact_registration", "medium,exact")
    sub = graph.plan(config, STAGES)
    assert [c.id for c in sub.columns] == ["real_2d_exact", "real_2d_exact_masked", "real_3d_exact_pixel"]
    # The same nodes (hashes) as the full config's exact columns: a run of one reuses the other's work.
    for c in sub.columns:
        assert sub.replicates[c.id] == full.replicates[c.id]
    assert {n.name for n in sub.nodes} < {n.name for n in full.nodes}
    assert all(c.split(">")[0] in sub.replicates and c.split(">")[1] in sub.replicates
               for c in config.experiment.compare.split(","))
    with pytest.raises(ValueError, match="exact"):
        _config("exact_registration", "medium,network")


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_every_paper_config_plans_at_every_size_and_documents_itself(name):
    from jaxau.report import paper

    module = importlib.import_module(f"configs.paper.{name}")
    for arg in ("paper", "cpu", "medium"):
        p = graph.plan(module.get_config(f"{arg},lambda_exp" if name == "fig3" else arg), STAGES)
        assert p.columns and all(c.id in p.outputs for c in p.columns)
        seeds = 2 if arg == "medium" else 1
        assert all(len(p.replicates[c.id]) == (1 if c.train == "internal" else seeds) for c in p.columns)
        for c in p.columns:
            paper.lookup(c.paper)  # Every paper reference resolves.
    doc = module.__doc__
    assert "python launch/reproduce.py --config=configs/paper/" in doc and "Expected cost" in doc
    assert "aper" in doc  # The paper's number (or why there is none).
    with pytest.raises(ValueError):
        module.get_config("gpu")


def test_oracle_partners_register_their_renders_with_the_frames_registration_network():
    c = _config("table2")
    c.generator.partners = "oracle"
    p = graph.plan(c, STAGES)
    for col in ("synthetic_3d", "synthetic_2d"):
        syn = _node(p, _node(p, _node(p, p.outputs[col]).deps["model"]).deps["train_set0"])
        gen = _node(p, syn.deps["generator"])
        assert sorted(gen.deps) == ["frames", "registration"]
        assert gen.deps["registration"] == _node(p, gen.deps["frames"]).deps["registration"]
    # Unregistered frames need no network; other partners none either.
    b = graph._Builder(STAGES)
    assert sorted(b.g.nodes[b.generator(c, "raw")].deps) == ["frames"]
    c.generator.partners = "sequence"
    b = graph._Builder(STAGES)
    assert sorted(b.g.nodes[b.generator(c, "3d")].deps) == ["frames"]
    # The stage's check refuses them on other data and without the loss they feed, in one line.
    from jaxau.stages import generator as generator_stage

    c.generator.partners = "oracle"
    generator_stage.check(c)
    c.generator.lambda_ids = 0.0
    with pytest.raises(ConfigError, match="lambda_ids=0"):
        generator_stage.check(c)
    c.generator.lambda_ids = 1000.0
    c.data.name = "fera2017"
    with pytest.raises(ConfigError, match="'fera2017' is not SynthFACS"):
        generator_stage.check(c)
