"""benchmarks/estimator_convergence.py: bad arguments are refused in one line before any work; a
workdir's columns are found through their score stages and scored on their estimators' validation
frames."""

import importlib.util
import json
import os

import pytest

from jaxau.data import frames as frames_lib
from jaxau.train import convergence, estimator
from tests.train.test_convergence import CFG
from tests.train.test_estimator import make_frames

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "estimator_convergence.py")
_spec = importlib.util.spec_from_file_location("estimator_convergence", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("est"))
    estimator.train(CFG, workdir, make_frames(), seed=0)
    return workdir


@pytest.mark.parametrize("argv, message", [
    ([], "either --workdir"),
    (["--workdir=W", "--estimators=E"], "either --workdir"),
    (["--estimators=E"], "needs --validation"),
    (["--workdir=W"], "results.json not found"),
    (["--workdir=R", "--columns=real_9d"], "not in"),
    (["--estimators=E", "--validation=V"], "has no estimator.json"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "results.json").write_text(json.dumps({"columns": {"real_2d": {}}}))
    argv = [a.replace("=W", f"={tmp_path / 'W'}").replace("=R", f"={tmp_path / 'R'}")
            .replace("=E", f"={tmp_path / 'E'}").replace("=V", f"={tmp_path / 'V'}") for a in argv]
    assert bench.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_workdirs_columns_are_found_through_their_score_stages_and_recorded(trained, tmp_path, capsys):
    stage = tmp_path / "register"
    stage.mkdir()
    frames_lib.save(str(stage / "validation.frames"), make_frames(48, seed=1))
    with open(os.path.join(trained, "DONE.json"), "w") as f:
        json.dump({"inputs": {"validation": str(stage)}}, f)
    score = tmp_path / "score"
    score.mkdir()
    (score / "DONE.json").write_text(json.dumps({"inputs": {"model": trained}}))
    work = tmp_path / "work"
    work.mkdir()
    (work / "results.json").write_text(json.dumps({"columns": {
        "real_2d": {"label": "2D Real", "directories": [str(score), str(score)]},
        "real_3d": {"label": "3D Real", "directory": None}}}))
    out = tmp_path / "conv.json"
    assert bench.main([f"--workdir={work}", f"--out={out}"]) == 0
    record = json.loads(out.read_text())
    assert list(record["columns"]) == ["2D Real"]      # the unscored column is left out
    column = record["columns"]["2D Real"]
    assert column["steps"] == [20, 40, 60] and column["seeds"] == 2 and column["unlearned"] == []
    direct = convergence.learning_curve(trained, make_frames(48, seed=1))
    assert column["icc_mean"] == pytest.approx([round(v, 4) for v in direct.mean], abs=1e-4)
    assert "2D Real (2 seeds): validation ICC 20:" in capsys.readouterr().out


def test_a_missing_validation_split_is_refused_before_any_scoring(tmp_path, capsys):
    est = tmp_path / "E"
    est.mkdir()
    (est / "estimator.json").write_text("{}")
    assert bench.main([f"--estimators={est}", f"--validation={tmp_path / 'V'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("--validation: ") and "has no validation.frames" in err[0], err
    work = tmp_path / "work"
    work.mkdir()
    score = tmp_path / "score"
    score.mkdir()
    (score / "DONE.json").write_text(json.dumps({"inputs": {"model": str(est)}}))
    (work / "results.json").write_text(json.dumps({"columns": {"real_2d": {"directories": [str(score)]}}}))
    assert bench.main([f"--workdir={work}"]) == 2  # the estimator's DONE.json names no validation input
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "names no validation input" in err[0], err
