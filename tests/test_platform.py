"""Multi-host start-up checks: every process up, or one line naming the ones that are not."""

import os
import subprocess
import sys
import threading

import pytest

from jaxau import platform
from tests.launch.test_launchers import ROOT
from tests.multiprocess import free_port_pair


def _run_all(address, ids, num_processes, timeout_s):
    """Runs `platform.rendezvous` for each id in a thread; id -> None or the error message."""
    results = {}

    def one(i):
        try:
            platform.rendezvous(address, num_processes, i, timeout_s)
            results[i] = None
        except platform.DistributedStartError as e:
            results[i] = str(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout_s + 60)
    return results


def test_all_processes_meet():
    address = f"127.0.0.1:{free_port_pair()}"
    assert _run_all(address, [2, 0, 1], 3, 20) == {0: None, 1: None, 2: None}


def test_missing_peer_is_named_on_process_0_and_on_the_peers_that_came():
    address = f"127.0.0.1:{free_port_pair()}"
    results = _run_all(address, [0, 1], 3, 2)
    assert results[0].startswith("process 0: processes [2] never connected to process 0 at 127.0.0.1:")
    assert "--distributed_timeout" in results[0]
    assert results[1].startswith("process 1: processes [2] never connected")


def test_peer_without_process_0_says_so():
    address = f"127.0.0.1:{free_port_pair()}"
    results = _run_all(address, [1], 2, 1)
    assert results[1].startswith("process 1: process 0 never answered at 127.0.0.1:")


def test_mismatched_counts_and_duplicate_ids_are_named():
    address = f"127.0.0.1:{free_port_pair()}"
    results = {}

    def one(i, n):
        try:
            platform.rendezvous(address, n, i, 10)
            results[(i, n)] = None
        except platform.DistributedStartError as e:
            results[(i, n)] = str(e)

    threads = [threading.Thread(target=one, args=args) for args in [(0, 3), (1, 2)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert "process 1 was started with --num_processes=2, process 0 with 3" in results[(0, 3)]
    assert "process 1 was started with --num_processes=2" in results[(1, 2)]


@pytest.mark.parametrize("args, expected", [
    (["--coordinator_address=127.0.0.1:{port}", "--num_processes=2", "--process_id=0",
      "--distributed_timeout=2"], "error: process 0: processes [1] never connected to process 0 at 127.0.0.1:"),
    (["--coordinator_address=127.0.0.1:{port}", "--num_processes=2", "--process_id=5"],
     "error: --process_id=5 must be in [0, --num_processes=2)."),
    (["--num_processes=2"], "error: Multi-host start-up needs --coordinator_address, --num_processes"),
    (["--coordinator_address=nohostport", "--num_processes=2", "--process_id=0"],
     "error: --coordinator_address='nohostport': expected HOST:PORT"),
])
def test_launcher_reports_start_up_problems_in_one_line(tmp_path, args, expected):
    port = free_port_pair()
    cmd = [sys.executable, "launch/reproduce.py", "--config=configs/demo.py", f"--workdir={tmp_path / 'run'}",
           *[a.format(port=port) for a in args]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(expected), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "stages").exists()


_CACHE_PROGRAM = r"""
import json, os, sys
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
from jaxau import platform
platform.configure_xla()
import jax, jax.numpy as jnp, numpy as np
from jax import monitoring
hits = []
monitoring.register_event_listener(lambda name, **kw: hits.append(name)
                                   if name == "/jax/compilation_cache/cache_hits" else None)
print(json.dumps({"dir": platform.enable_compilation_cache(sys.argv[1] or None, min_compile_seconds=0)}))
# A fresh closure each time: the in-memory cache (keyed by function identity) cannot share it.
f = jax.jit(lambda x: jnp.sin(x) @ jnp.cos(x).T + float(sys.argv[2]))
y = np.asarray(f(np.ones((8, 8), np.float32)))  # numpy in and out: f is the only compilation
print(json.dumps({"hits": len(hits), "y": float(y[0, 0])}))
"""


def _cache_run(directory, constant):
    out = subprocess.run([sys.executable, "-c", _CACHE_PROGRAM, directory, str(constant)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    return {**__import__("json").loads(lines[0]), **__import__("json").loads(lines[1])}


def test_the_compilation_cache_serves_the_same_program_to_another_process(tmp_path):
    cache = str(tmp_path / "xla")
    first = _cache_run(cache, 1.0)
    assert first["dir"] == cache and first["hits"] == 0 and os.listdir(cache)
    second = _cache_run(cache, 1.0)
    assert second["hits"] == 1 and second["y"] == first["y"]
    # Another program (another constant in the HLO) is not served the first one's executable.
    other = _cache_run(cache, 2.0)
    assert other["hits"] == 0 and other["y"] == first["y"] + 1.0
    off = _cache_run("", 1.0)
    assert off["dir"] is None and off["hits"] == 0


def test_the_launchers_cache_directory_follows_the_flag(tmp_path):
    from jaxau import cli

    assert cli.compilation_cache_dir("auto", str(tmp_path)) == str(tmp_path / "cache" / "xla")
    assert cli.compilation_cache_dir("none", str(tmp_path)) is None
    assert cli.compilation_cache_dir("", str(tmp_path)) is None
    assert cli.compilation_cache_dir("auto", None) is None
    assert cli.compilation_cache_dir("/x/y", str(tmp_path)) == "/x/y"
