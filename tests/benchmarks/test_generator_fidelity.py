"""`benchmarks/generator_fidelity.py`: refusals that keep it from reusing stale work."""

from benchmarks import generator_fidelity


def test_column_with_a_learning_curve_is_refused_before_any_work(tmp_path, capsys):
    # The synthetic column's stages live in one directory per generator directory, so a curve's
    # later lengths would score the first length's set: refused in one line, exit 2, nothing written.
    out = tmp_path / "out"
    argv = [f"--workdir={tmp_path / 'missing'}", f"--out={out}", "--steps=10,20", "--column"]
    assert generator_fidelity.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--column" in err[0] and "--steps" in err[0]
    assert not out.exists()


def test_a_config_without_a_synthetic_3d_column_or_a_missing_file_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    for config, words in (("configs/paper/exact_registration.py:cpu", ("synthetic_3d", "exact_registration")),
                          ("configs/paper/tabel2.py:medium", ("no such file", "tabel2.py"))):
        argv = [f"--config={config}", f"--workdir={tmp_path}", f"--out={out}"]
        assert generator_fidelity.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and all(w in err[0] for w in words), err
        assert not out.exists()
