"""The launchers' console (our lines, errors, each library warning once; everything in the workdir's
log file), their console scripts (one per launcher, runnable from any directory, no sys.path edits),
and the demo's closing summary."""

import glob
import importlib.metadata
import logging
import os
import re
import subprocess
import sys

import pytest

from jaxau import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHERS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "launch", "*.py"))
                   if not p.endswith("__init__.py"))


def _record(path, level=logging.INFO, line=10, msg="x"):
    return logging.LogRecord("absl", level, path, line, msg, None, None)


def test_console_shows_our_lines_and_hides_library_info_even_in_a_checkout_named_jaxau(tmp_path, monkeypatch):
    checkout = tmp_path / "jaxau"   # A checkout named like the package, with its venv inside.
    for d in ("jaxau/stages", "launch", ".venv/lib/python3.11/site-packages/orbax/checkpoint",
              ".venv/lib/python3.11/site-packages/jaxau_plugin/launch"):
        (checkout / d).mkdir(parents=True)
    console = cli.ConsoleFilter([str(checkout / "jaxau"), str(checkout / "launch")])
    orbax = str(checkout / ".venv/lib/python3.11/site-packages/orbax/checkpoint/checkpoint_manager.py")
    assert console.filter(_record(str(checkout / "jaxau/stages/runner.py")))
    assert console.filter(_record(str(checkout / "launch/reproduce.py")))
    assert not console.filter(_record(orbax))
    assert not console.filter(_record(str(checkout / ".venv/lib/python3.11/site-packages/jaxau_plugin/launch/a.py")))
    # Library warnings: each once; errors always.
    assert console.filter(_record(orbax, logging.WARNING, line=5))
    assert not console.filter(_record(orbax, logging.WARNING, line=5))
    assert console.filter(_record(orbax, logging.WARNING, line=6))
    assert console.filter(_record(orbax, logging.ERROR)) and console.filter(_record(orbax, logging.ERROR))
    monkeypatch.setattr(cli, "_verbosity", lambda: 1)   # --verbosity=1: everything.
    assert console.filter(_record(orbax)) and console.filter(_record(orbax, logging.WARNING, line=5))


def test_the_log_file_keeps_every_record(tmp_path, caplog):
    caplog.set_level(logging.INFO)   # What launchers set (cli.run).
    path = cli.log_to_file(str(tmp_path), "reproduce")
    try:
        logging.getLogger("orbax.checkpoint").info("CheckpointManager options: many of them")
    finally:
        for h in [h for h in logging.getLogger().handlers if getattr(h, "jaxau_log", False)]:
            logging.getLogger().removeHandler(h)
            h.close()
    assert path == str(tmp_path / "logs" / "reproduce.log")
    assert "CheckpointManager options: many of them" in open(path).read()
    assert cli.log_to_file.__doc__ and "p<i>" in cli.log_to_file.__doc__


LAUNCHER = """
from absl import logging
from jaxau import cli
import fake_library

def main(config, workdir):
    fake_library.work()
    logging.info("step 1/2: our progress line")
    logging.info("parameters: 123\\n" + "\\n".join(f"  layer {i}" for i in range(30)))
    return 0

if __name__ == "__main__":
    cli.run(main, needs_config=False)
"""
LIBRARY = """
import logging

def work():
    logging.getLogger("orbax").info("library detail line")
    for _ in range(2):
        logging.getLogger("orbax").warning("library warning line")
"""


def test_a_launcher_prints_our_lines_and_files_the_rest(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "app" / "launcher.py").write_text(LAUNCHER)
    (tmp_path / "lib" / "fake_library.py").write_text(LIBRARY)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "lib")}
    proc = subprocess.run([sys.executable, "app/launcher.py", f"--workdir={tmp_path / 'run'}"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "our progress line" in proc.stderr and "library detail line" not in proc.stderr
    assert proc.stderr.count("library warning line") == 1
    # A long record of ours (a parameter table) shows its first line; the log file has all of it.
    assert "parameters: 123 [30 more lines in the log file]" in proc.stderr and "layer 29" not in proc.stderr
    log = open(tmp_path / "run" / "logs" / "launcher.log").read()
    assert "our progress line" in log and "library detail line" in log and log.count("library warning line") == 2
    assert "layer 29" in log


def test_every_launcher_is_a_console_script_without_sys_path_edits():
    import launch

    assert launch.__file__.startswith(os.path.join(ROOT, "launch"))
    for name in LAUNCHERS:
        text = open(os.path.join(ROOT, "launch", f"{name}.py")).read()
        assert "sys.path" not in text, name
        assert re.search(r"^def run\(\) -> None:", text, re.M), name
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")
               if e.name.startswith("jaxau-")}
    assert scripts == {f"jaxau-{n.replace('_', '-')}": f"launch.{n}:run" for n in LAUNCHERS}


def test_a_console_script_runs_from_any_directory(tmp_path):
    # configs/paper/*.py import configs.paper.base: the installed configs package serves them.
    script = os.path.join(os.path.dirname(sys.executable), "jaxau-reproduce")
    proc = subprocess.run([script, "--config=configs/paper/table2.py", f"--workdir={tmp_path / 'run'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert errors[0].startswith("error: config.estimator.pretrained: the paper fine-tunes ImageNet VGG16 weights")


def test_the_demo_summary_has_the_icc_table():
    from launch import reproduce

    summary = {"icc": {"Real, 2D registration": {"AU01": 0.1, "AU12": 0.38, "mean": 0.24},
                       "Synthetic, 3D registration": {"AU01": -0.05, "mean": -0.05},
                       "Oracle": {"AU01": -0.0001, "AU12": 0.0, "mean": -0.00004}},
               "ci95": {"Real, 2D registration": {"mean": [0.078, 0.197]}}}
    lines = reproduce.icc_table(summary).splitlines()
    assert lines[0].startswith("ICC(3,1)")
    assert lines[1].split() == ["column", "AU01", "AU12", "mean", "95%", "interval"]
    assert lines[2].split()[-5:] == ["0.100", "0.380", "0.240", "[0.078,", "0.197]"]
    assert lines[3].split()[-3:] == ["-0.050", "-", "-0.050"] and lines[3].startswith("Synthetic, 3D")
    assert lines[4].split()[-3:] == ["0.000", "0.000", "0.000"]   # never "-0.000"
