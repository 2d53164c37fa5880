"""Offline stages over two processes on 127.0.0.1 write exactly what one process writes.

One process and a two-process ``jax.distributed`` job run the same pipeline
(`tests.stages.hosts_worker`): register_3d (exact meshes), augment, a stage that fails on process 1
only, and synthesis. Every subprocess has a hard timeout, so a hung wait fails the test.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxau.data import frames as frames_lib
from tests.multiprocess import finish, free_port_pair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 420


def _worker(root, data_dir, generator_dir, *extra):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen([sys.executable, "-m", "tests.stages.hosts_worker", str(root), data_dir, generator_dir,
                             *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc):
    rc, out = finish(proc, TIMEOUT)
    assert rc == 0, out[-3000:]
    results = json.loads([line for line in out.splitlines() if line.startswith("RESULTS ")][-1][len("RESULTS "):])
    results["log"] = out
    return results


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    from tests.stages import tiny_synthfacs
    from tests.synthesis.test_synthesize import make_generator_dir

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    gen_dir = make_generator_dir(str(tmp_path_factory.mktemp("generator")))
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    port = free_port_pair()
    procs = [_worker(one, data_dir, gen_dir)]
    procs += [_worker(two, data_dir, gen_dir, "--coordinator", f"127.0.0.1:{port}", "--num_processes", "2",
                      "--process_id", str(i)) for i in range(2)]
    return one, two, [_finish(p) for p in procs]


def _stage_dir(root, name):
    (found,) = [d for d in os.listdir(os.path.join(root, "stages")) if d.startswith(name + "-")]
    return os.path.join(root, "stages", found)


def _assert_same_frames(a_path, b_path):
    a, b = frames_lib.load(a_path), frames_lib.load(b_path)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(b[key]), np.asarray(a[key]), err_msg=f"{b_path}: {key}")


def _untimed(summary):
    return {k: v for k, v in summary.items() if k not in ("images_per_second", "seconds")}


def test_two_processes_write_what_one_process_writes(runs):
    one, two, (ref, p0, p1) = runs
    assert (p0["share"], p1["share"]) == ([0, 2], [1, 2])
    for name in ("register_3d", "synthesis", "augment"):
        assert ref["stages"][name][0] == p0["stages"][name][0] == "done", name
        # Process 1 reports the leader's summary (read from its DONE.json); "cached" when the leader
        # had finished the whole stage before process 1 reached it (the fake synthesis does no work).
        assert p1["stages"][name][0] in ("done", "cached"), name
        assert p0["stages"][name][1] == p1["stages"][name][1], name
        assert _untimed(p0["stages"][name][1]) == _untimed(ref["stages"][name][1]), name
    for split in ("train", "validation", "test"):
        _assert_same_frames(os.path.join(_stage_dir(one, "register_3d"), f"{split}.frames"),
                            os.path.join(_stage_dir(two, "register_3d"), f"{split}.frames"))
    _assert_same_frames(os.path.join(_stage_dir(one, "augment"), "train.frames"),
                        os.path.join(_stage_dir(two, "augment"), "train.frames"))
    _assert_same_frames(os.path.join(one, "synthesis", "synthetic.frames"),
                        os.path.join(two, "synthesis", "synthetic.frames"))
    for name, files in (("register_3d", ("failures.json",)), ("augment", ())):
        for f in files:
            with open(os.path.join(_stage_dir(one, name), f)) as x, open(os.path.join(_stage_dir(two, name), f)) as y:
                assert json.load(x) == json.load(y)


def test_each_process_did_its_share_of_the_chunks(runs):
    _, _, (ref, p0, p1) = runs

    def chunks(run, split):
        return {line.split(": chunk ")[1].split("/")[0] for line in run["log"].splitlines()
                if line.startswith(f"[register_3d] {split}: chunk ")}

    # 54 training frames in chunks of 8: chunks 1-7, odd ones on process 0, even ones on process 1.
    assert chunks(ref, "train") == {str(k) for k in range(1, 8)}
    assert (chunks(p0, "train"), chunks(p1, "train")) == ({"1", "3", "5", "7"}, {"2", "4", "6"})
    assert ref["synthesis"]["chunks_generated"] == 4
    assert (p0["synthesis"]["chunks_generated"], p1["synthesis"]["chunks_generated"]) == (2, 2)


def test_a_failure_on_one_process_stops_both_with_its_message(runs):
    _, _, (ref, p0, p1) = runs
    assert ref["stages"]["planted"][0] == "done"  # One process: process 1 does not exist.
    assert p1["stages"]["planted"][:1] == ["failed"] and "planted failure on process 1" in p1["stages"]["planted"][2]
    assert p0["stages"]["planted"][0] == "failed"
    assert "process 1 failed: RuntimeError: planted failure on process 1" in p0["stages"]["planted"][2]
