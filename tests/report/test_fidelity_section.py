"""The report's generator-fidelity section: synthesis.json's fidelity record, critic ICC, oracle reading."""

import json
import types

from jaxau.report import experiment
from jaxau.stages import graph


def test_fidelity_section_tabulates_the_synthesis_record_and_explains_oracle_columns(tmp_path):
    syn, gen = tmp_path / "synthesis-1", tmp_path / "generator-1"
    syn.mkdir()
    gen.mkdir()
    (syn / "synthesis.json").write_text(json.dumps({"fidelity": {
        "l1_generated": 0.01019, "l1_copy_source": 0.01031, "edit_gain": 0.2, "edit_cosine": 0.31, "reader_icc_generated": 0.02,
        "reader_icc_oracle": 0.2, "reader_icc_source": 0.0, "edit_cosine_by_au": {"AU12": 0.5}, "entries": 8,
        "edit_cosine_ceiling": 0.73, "edit_cosine_labelled": 0.28, "edit_cosine_labelled_by_au": {"AU12": 0.45},
        "critic_icc_oracle": 0.52, "critic_icc_generated": 0.61, "critic_icc_source": 0.01}}))
    (syn / "fidelity.png").write_bytes(b"png")
    (gen / "metrics.json").write_text(json.dumps({"critic_icc": 0.4, "critic_val_frames": 96,
                                                  "critic_val_positives": {"AU04": 1, "AU12": 34},
                                                  "critic_icc_ci95": [0.31, 0.47], "critic_val_subjects": 6,
                                                  "pair_changes": {"AU01": {"changed": 0.133, "changed_by_2": 0.064},
                                                                   "AU12": {"changed": 0.403, "changed_by_2": 0.18}}}))
    node = lambda name, deps: types.SimpleNamespace(name=name, deps=deps)  # noqa: E731
    nodes = {"synthesis-1": node("synthesis-1", {"generator": "generator-1"}), "generator-1": node("generator-1", {})}
    res = lambda name, stage, d: types.SimpleNamespace(name=name, stage=stage, directory=str(d))  # noqa: E731
    results = [res("generator-1", "generator", gen), res("synthesis-1", "synthesis", syn)]
    cols = [graph.Column("synthetic_3d", "Synthetic 3D", "synthetic:3d"), graph.Column("oracle_3d", "Oracle 3D", "oracle:3d")]
    planned = types.SimpleNamespace(columns=cols, skipped={"oracle_2d": "not SynthFACS"})
    summary, images = {}, []
    md = "\n".join(experiment._fidelity_section(results, nodes, {r.name: r for r in results},
                                                {"synthesis-1": {"Synthetic 3D"}}, planned, summary, images))
    assert "| edit cosine: (G - src) vs (oracle - src) | 0.310 |" in md
    assert "| L1 to the oracle, generated (face region, [0, 1]) | 0.01019 |" in md
    assert "| L1 to the oracle, unedited source | 0.01031 |" in md
    assert "| edit gain: share of the true edit drawn (projection of G - src on oracle - src) | 0.200 |" in md
    assert "| critic ICC (D's AU head on validation frames, end of training) | 0.400 |" in md
    assert "| critic ICC, oracle images vs target levels (every (AU, level) cell) | 0.520 |" in md
    assert "| critic ICC, generated images vs target levels | 0.610 |" in md
    assert "| critic ICC, unedited sources vs target levels | 0.010 |" in md
    assert "positive validation frames per AU of 96: AU04 1, AU12 34" in md
    assert "critic ICC 0.400 [0.310, 0.470], 95 % bootstrap over 6 validation subjects." in md
    assert "| edit cosine of the labelled oracle (only G's AU columns changed): a perfect G | 0.730 |" in md
    assert "| edit cosine: (G - src) vs (labelled oracle - src) | 0.280 |" in md
    assert "labelled oracle per target AU (Synthetic 3D): AU12 0.45" in md
    assert ("changes each AU, by >= 1 level (>= 2) (Synthetic 3D): how often the paired loss shows the "
            "generator that AU's edit: AU01 13 % (6 %), AU12 40 % (18 %).") in md
    assert "AU12 0.50" in md and "Oracle >= real" in md and "Column oracle_2d left out: not SynthFACS" in md
    assert summary["fidelity"]["Synthetic 3D"]["critic_icc"] == 0.4
    assert images and images[0][1].endswith("fidelity.png")


def test_the_edit_scale_is_reported_with_its_calibration_with_or_without_a_fidelity_record(tmp_path):
    node = lambda name, deps: types.SimpleNamespace(name=name, deps=deps)  # noqa: E731
    res = lambda name, stage, d: types.SimpleNamespace(name=name, stage=stage, directory=str(d))  # noqa: E731
    cols = [graph.Column("synthetic_3d", "Synthetic 3D", "synthetic:3d")]
    planned = types.SimpleNamespace(columns=cols, skipped={})

    def section(record):
        syn = tmp_path / "synthesis-1"
        syn.mkdir(exist_ok=True)
        (syn / "synthesis.json").write_text(json.dumps(record))
        results = [res("synthesis-1", "synthesis", syn)]
        return "\n".join(experiment._fidelity_section(results, {"synthesis-1": node("synthesis-1", {})},
                                                      {r.name: r for r in results},
                                                      {"synthesis-1": {"Synthetic 3D"}}, planned, {}, []))

    cal = {"grid": [0.5, 1.0, 1.5, 2.0], "mismatch": [0.1, 0.05, 0.011, 0.01], "mismatch_se": 0.002,
           "best_scale": 2.0, "slope_real": 0.2, "slope_generated": [0.0, 0.07, 0.15, 0.18], "real_frames": 96,
           "sample": 296, "edit_scale": 1.5}
    # A real dataset: no fidelity record, the calibration is the section.
    md = section({"edit_scale": 1.5, "edit_scale_calibration": cal})
    assert md.startswith("## Synthetic edit scale") and "Edit scale (Synthetic 3D): **k = 1.5**" in md
    assert "0.200 on 96 real validation frames; on 296 generated images 0.150 at k = 1.5, at 1 0.070" in md
    assert "(0.5: 0.1000, 1: 0.0500, 1.5: 0.0110, 2: 0.0100); smallest at k = 2, standard error 0.0020" in md
    # A fixed scale is stated; the generator's own images (k = 1) need no line.
    assert "every image is src + 2 (G(src) - src)" in section({"edit_scale": 2.0})
    assert section({"edit_scale": 1.0}) == ""
    # The edit drawn on the source is always stated, with its formula, calibrated or not.
    assert ("every image is src + 1 (G(src | target) - G(src | its own levels)) (synthesis.draw = 'edit'"
            in section({"edit_scale": 1.0, "draw": "edit"}))
    assert "images drawn as src + k (G(src | target) - G(src | its own levels))" in section(
        {"edit_scale": 1.5, "draw": "edit", "edit_scale_calibration": cal})
    md = section({"edit_scale": 1.0, "edit_scale_calibration": {"edit_scale": 1.0, "skipped": "no AU label varies"}})
    assert "Edit scale (Synthetic 3D): 1; the calibration was skipped: no AU label varies." in md


def test_degraded_oracle_sets_are_tabulated_next_to_the_generator(tmp_path):
    syn, exact, faint = tmp_path / "synthesis-1", tmp_path / "oracle-1", tmp_path / "oracle-2"
    for d in (syn, exact, faint):
        d.mkdir()
    (syn / "synthesis.json").write_text(json.dumps({"fidelity": {
        "l1_generated": 0.0094, "l1_copy_source": 0.0103, "edit_gain": 0.262, "edit_cosine": 0.437, "entries": 74,
        "edit_gain_added": 0.31, "edit_gain_removed": 0.52}}))
    (exact / "oracle.json").write_text(json.dumps({"strength": 1.0, "expression_aus": "all"}))
    (faint / "oracle.json").write_text(json.dumps({"strength": 0.4, "expression_aus": "labelled", "direction": "up",
                                                    "edit": {"entries": 74, "gain": 0.251, "cosine": 0.402,
                                                             "l1": 0.0081, "l1_copy_source": 0.0103,
                                                             "cosine_by_au": {"AU12": 0.5}, "gain_added": 0.4,
                                                             "gain_removed": 1.0}}))
    node = lambda name: types.SimpleNamespace(name=name, deps={})  # noqa: E731
    res = lambda name, stage, d: types.SimpleNamespace(name=name, stage=stage, directory=str(d))  # noqa: E731
    results = [res("synthesis-1", "synthesis", syn), res("oracle-1", "oracle", exact), res("oracle-2", "oracle", faint)]
    cols = [graph.Column("synthetic_3d", "Synthetic 3D", "synthetic:3d"), graph.Column("oracle_3d", "Oracle 3D", "oracle:3d"),
            graph.Column("faint_3d", "Faint 3D", "oracle:3d", overrides="oracle.strength=0.4")]
    planned = types.SimpleNamespace(columns=cols, skipped={})
    serves = {"synthesis-1": {"Synthetic 3D"}, "oracle-1": {"Oracle 3D"}, "oracle-2": {"Faint 3D"}}
    summary = {}
    md = "\n".join(experiment._fidelity_section(results, {r.name: node(r.name) for r in results},
                                                {r.name: r for r in results}, serves, planned, summary, []))
    assert "| Faint 3D | labelled | 0.4 (up) | 0.251 | 0.400 | 1.000 | 0.402 | 0.00810 | 0.01030 | 74 |" in md
    assert "| Synthetic 3D (generated) | told: labelled | | 0.262 | 0.310 | 0.520 | 0.437 | 0.00940 | 0.01030 | 74 |" in md
    # The exact oracle has no edit record: it is the reference, not a row.
    assert "| Oracle 3D |" not in md
    assert summary["degraded_oracles"] == {"Faint 3D": {
        "strength": 0.4, "expression_aus": "labelled", "direction": "up", "blur": 0.0, "generator_pass": False,
        "entries": 74,
        "gain": 0.251, "cosine": 0.402, "l1": 0.0081, "l1_copy_source": 0.0103, "cosine_by_au": {"AU12": 0.5},
        "gain_added": 0.4, "gain_removed": 1.0}}
    def with_one_more(name, stage, column, record):
        """The section with one more set (its stage directory written from ``record``) and its summary."""
        directory = tmp_path / name
        directory.mkdir()
        (directory / f"{stage}.json").write_text(json.dumps(record))
        more = results + [res(name, stage, directory)]
        serves[name] = {column.label}
        planned.columns.append(column)
        out = {}
        md = "\n".join(experiment._fidelity_section(more, {r.name: node(r.name) for r in more},
                                                    {r.name: r for r in more}, serves, planned, out, []))
        planned.columns.pop()
        return md, out

    # The exact oracle redrawn by the generator (regenerate.json) is a row of its own, marked as such.
    md, summary = with_one_more("regenerate-1", "regenerate", graph.Column("regenerated_3d", "Redrawn 3D",
                                                                           "regenerated:3d"), {
        "strength": 1.0, "expression_aus": "all", "direction": "both", "generator_pass": True,
        "edit": {"entries": 74, "gain": 0.81, "cosine": 0.77, "l1": 0.0052, "l1_copy_source": 0.0103,
                 "cosine_by_au": {}, "gain_added": 0.85, "gain_removed": 0.7}})
    assert "| Redrawn 3D | all, redrawn by G | 1 (both) | 0.810 | 0.850 | 0.700 | 0.770 | 0.00520 | 0.01030 | 74 |" in md
    assert summary["degraded_oracles"]["Redrawn 3D"]["generator_pass"] is True
    # A blurred exact set says so in its row.
    md, summary = with_one_more("oracle-3", "oracle", graph.Column("blurred_3d", "Blurred 3D", "oracle:3d"), {
        "strength": 1.0, "expression_aus": "all", "direction": "both", "blur": 0.4,
        "edit": {"entries": 74, "gain": 0.9, "cosine": 0.6, "l1": 0.004, "l1_copy_source": 0.0103,
                 "cosine_by_au": {}, "gain_added": 0.9, "gain_removed": 0.9}})
    assert "| Blurred 3D | all, blurred (sigma 0.4 px) | 1 (both) | 0.900 |" in md
    assert summary["degraded_oracles"]["Blurred 3D"]["blur"] == 0.4
    # Without degraded sets the section has no such table.
    md = "\n".join(experiment._fidelity_section(results[:2], {r.name: node(r.name) for r in results[:2]},
                                                {r.name: r for r in results[:2]}, serves, planned, {}, []))
    assert "Degraded oracle sets" not in md
