"""benchmarks/critic_heldout.py: held-out subjects are new identities in the trained views; bad
arguments are refused in one line before any work; another experiment's synthetic 3D column is the
one measured."""

import importlib.util
import os

import pytest

from jaxau.face import synth

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "critic_heldout.py")
_spec = importlib.util.spec_from_file_location("critic_heldout", _PATH)
critic_heldout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(critic_heldout)


def test_heldout_requests_are_new_validation_subjects_in_the_chosen_views():
    cfg = synth.get_config("fera_demo_large")
    first = cfg.subjects["validation"]
    requests = critic_heldout.heldout_requests(cfg, first, 2, {4})
    names = sorted({r["subject"].name for r in requests})
    assert names == [synth.subject_name(cfg, "validation", first), synth.subject_name(cfg, "validation", first + 1)]
    own = {synth.subject_name(cfg, s, i) for s in synth.SPLITS for i in range(cfg.subjects.get(s, 0))}
    assert not own & set(names)
    assert {int(r["pose"][0]) for r in requests} == {4}
    # Every frontal frame of those subjects, as the domain itself would request them.
    expected = [fr for i in (first, first + 1) for fr in synth.subject_frames(cfg, "validation", i)
                if int(fr["pose"][0]) == 4]
    assert len(requests) == len(expected) == 2 * cfg.sessions * cfg.frames
    assert [(r["sequence"], r["frame"]) for r in requests] == [(r["sequence"], r["frame"]) for r in expected]


@pytest.mark.parametrize("extra, message", [
    (["--generators=MISSING"], "has no generator.json"),
    (["--generators=GEN", "--subjects=1"], "at least 2"),
    (["--generators=GEN", "--config=configs/paper/tabel2.py:medium"], "no such file"),
    (["--generators=GEN", "--config=configs/paper/exact_registration.py:cpu"], "no synthetic_3d column"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "generator.json").write_text("{}")
    argv = [f"--workdir={tmp_path / 'workdir'}"] + [a.replace("MISSING", str(tmp_path / "none")).replace(
        "GEN", str(gen)) for a in extra]
    assert critic_heldout.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_another_experiments_synthetic_3d_sources_are_the_ones_rendered_through(tmp_path, capsys):
    # Table 2 at :medium plans a 2-D and a 3-D synthesis; the critic is scored through the 3-D one's
    # sources: with only its registration network finished, the missing input named is a register_3d node.
    from jaxau import cli
    from jaxau.stages import STAGES, graph

    spec = "configs/paper/table2.py:medium"
    planned = graph.plan(cli.load_config(spec), STAGES)
    syn = planned.training_synthesis("synthetic_3d")
    done = tmp_path / "workdir" / "stages" / syn.deps["registration"]
    done.mkdir(parents=True)
    (done / "DONE.json").write_text("{}")
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "generator.json").write_text("{}")
    argv = [f"--config={spec}", f"--workdir={tmp_path / 'workdir'}", f"--generators={gen}"]
    assert critic_heldout.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and syn.deps["sources"] in err[0] and syn.deps["sources"].startswith("register_3d-"), err
    assert f"--config={spec} --stages=real_3d" in err[0]
