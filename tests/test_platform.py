"""Multi-host start-up checks: every process up, or one line naming the ones that are not."""

import socket
import subprocess
import sys
import threading

import pytest

from jaxau import platform
from tests.launch.test_launchers import ROOT


def _free_port_pair() -> int:
    """A port p with p and p + 1 free (the rendezvous uses p + 1)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", p + 1))
                except OSError:
                    continue
        return p
    raise RuntimeError("no free port pair")


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
    address = f"127.0.0.1:{_free_port_pair()}"
    assert _run_all(address, [2, 0, 1], 3, 20) == {0: None, 1: None, 2: None}


def test_missing_peer_is_named_on_process_0_and_on_the_peers_that_came():
    address = f"127.0.0.1:{_free_port_pair()}"
    results = _run_all(address, [0, 1], 3, 2)
    assert results[0].startswith("process 0: processes [2] never connected to process 0 at 127.0.0.1:")
    assert "--distributed_timeout" in results[0]
    assert results[1].startswith("process 1: processes [2] never connected")


def test_peer_without_process_0_says_so():
    address = f"127.0.0.1:{_free_port_pair()}"
    results = _run_all(address, [1], 2, 1)
    assert results[1].startswith("process 1: process 0 never answered at 127.0.0.1:")


def test_mismatched_counts_and_duplicate_ids_are_named():
    address = f"127.0.0.1:{_free_port_pair()}"
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
    port = _free_port_pair()
    cmd = [sys.executable, "launch/reproduce.py", "--config=configs/demo.py", f"--workdir={tmp_path / 'run'}",
           *[a.format(port=port) for a in args]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(expected), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "stages").exists()
