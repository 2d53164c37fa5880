"""`benchmarks/demo_memory.py`: the peak-memory readings of a child process and its tree."""

import os
import sys

from benchmarks import demo_memory

ALLOCATE = ("import sys, time, numpy as np; a = np.ones({mb} * 2 ** 20, np.uint8); time.sleep(1.5); "
            "sys.exit({rc})")


def test_a_child_allocating_300_mb_peaks_above_300_mb():
    import numpy as np

    ballast = np.ones(800 * 2 ** 20, np.uint8)  # this process is large, as a pytest worker can be
    run = demo_memory.measure_command([sys.executable, "-c", ALLOCATE.format(mb=300, rc=0)])
    del ballast
    assert run["rc"] == 0
    # The sampled high-water mark is the child's own, however large this (forking) process is.
    assert 300 <= run["peak_rss_mb"] < 600
    assert 300 <= run["peak_tree_rss_sampled_mb"] <= run["peak_rss_mb"] + 1
    small = demo_memory.measure_command([sys.executable, "-c", ALLOCATE.format(mb=10, rc=0)])
    assert small["peak_rss_mb"] < run["peak_rss_mb"] - 250


def test_the_tree_sum_sees_grandchildren_and_the_exit_status_is_kept(tmp_path):
    # The child starts a grandchild holding 300 MB: both readings see it (the largest VmHWM in the
    # tree; the sampled sum of the live tree).
    inner = ALLOCATE.format(mb=300, rc=0)
    outer = (f"import subprocess, sys; subprocess.run([sys.executable, '-c', {inner!r}]); sys.exit(3)")
    run = demo_memory.measure_command([sys.executable, "-c", outer], log_path=str(tmp_path / "log"))
    assert run["rc"] == 3
    assert run["peak_tree_rss_sampled_mb"] >= 300 and run["peak_rss_mb"] >= 300
    assert os.path.exists(tmp_path / "log")


def test_export_revision_writes_the_tree(tmp_path):
    sha, src = demo_memory.export_revision("HEAD", str(tmp_path))
    assert len(sha) == 12 and os.path.isfile(os.path.join(src, "launch", "reproduce.py"))
    assert demo_memory.export_revision("HEAD", str(tmp_path)) == (sha, src)  # reused


def test_science_ignores_timings_and_workdir_paths():
    a = {"icc": {"x": 0.1}, "stages": [1], "fidelity": {"c": {"seconds": 3.0, "reader": "/w1/stages/e-ba9876543210", "v": 2}}}
    b = {"icc": {"x": 0.1}, "stages": [2], "fidelity": {"c": {"seconds": 9.0, "reader": "/w2/stages/e-0123456789ab", "v": 2}}}
    assert demo_memory.science(a, "/w1") == demo_memory.science(b, "/w2")
    b["fidelity"]["c"]["v"] = 3
    assert demo_memory.science(a, "/w1") != demo_memory.science(b, "/w2")
