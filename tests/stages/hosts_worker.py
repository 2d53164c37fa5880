"""Subprocess entry point for the multi-host offline-stage tests (a fixture, not a feature).

    python -m tests.stages.hosts_worker ROOT DATA_DIR GENERATOR_DIR
        [--coordinator HOST:PORT --num_processes P --process_id I]

Runs, through `jaxau.stages.runner.run_pipeline` under ``ROOT``: ``register_3d`` on the tiny SynthFACS
build (exact meshes: no registration network to train), ``augment`` on a synthetic set made from its
test frames, and a stage that fails on process 1 only; then `jaxau.synthesis.synthesize.synthesize_set`
with the untrained generator in GENERATOR_DIR into ``ROOT/synthesis``. Every process prints its
pipeline results as one ``RESULTS <json>`` line.
"""

import argparse
import json
import os


def noop(config, stage_dir, inputs):
    """A stage with nothing to do (the data is prebuilt; exact registration needs no network)."""
    return {}


def fake_synthesis(config, stage_dir, inputs):
    """``synthetic.frames`` for the augment stage: the registered test frames with plan cells."""
    import numpy as np

    from jaxau import hosts
    from jaxau.data import frames as frames_lib

    fs = frames_lib.load(os.path.join(inputs["register_3d"], "test.npz"))
    fs = {k: np.asarray(v) for k, v in fs.items()}
    n, k = fs["au_intensity"].shape
    fs["target_au"] = (np.arange(n) % k).astype(np.int32)
    fs["target_level"] = fs["au_intensity"][np.arange(n), fs["target_au"]].astype(np.int32)
    if hosts.active().leader:
        frames_lib.save(os.path.join(stage_dir, "synthetic.frames"), fs)
    return {"num_images": n}


def fail_on_process_1(config, stage_dir, inputs):
    """Fails on process 1 only; process 0 writes its part and then waits for process 1's."""
    from jaxau import hosts

    from jaxau import io_utils

    share = hosts.active()
    if share.index == 1:
        raise RuntimeError("planted failure on process 1")
    io_utils.write_text(os.path.join(stage_dir, f"part-{share.index}"), "done")
    share.wait_for([os.path.join(stage_dir, f"part-{i}") for i in range(share.count)], stage_dir, "planted parts")
    return {}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("data_dir")
    p.add_argument("generator_dir")
    p.add_argument("--coordinator")
    p.add_argument("--num_processes", type=int)
    p.add_argument("--process_id", type=int)
    args = p.parse_args()

    os.environ["JAX_PLATFORMS"] = "cpu"
    from jaxau import platform

    platform.configure_xla(num_cpu_devices=1)
    platform.initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                                    initialization_timeout=60)
    import dataclasses

    from jaxau import hosts
    from jaxau.data import frames as frames_lib
    from jaxau.stages import STAGES, runner
    from jaxau.synthesis import synthesize
    from tests.stages.test_register import make_config
    from tests.synthesis.test_synthesize import frame_set

    share = dataclasses.replace(hosts.from_jax(), timeout_s=300.0, poll_s=0.1)
    config = make_config(args.data_dir)
    config.align.registration = "exact"
    config.align.chunk_size = 8  # 54 / 9 / 18 frames: 7 / 2 / 3 chunks, shared unevenly.
    config.align.oracle_frames = 0  # The frontalisation oracle is the leader's alone (tests/stages/test_register.py).
    config.augment = {"poses": "3:-40:0,4:0:0,5:40:0", "per_level": 1, "batch_size": 8}
    here = "tests.stages.hosts_worker"
    stages = [runner.Stage("data", "prebuilt", ("data",), impl=f"{here}:noop"),
              runner.Stage("registration", "exact meshes", ("data",), deps=("data",), impl=f"{here}:noop"),
              STAGES["register_3d"],
              runner.Stage("synthesis", "test frames with plan cells", ("data",), deps=("register_3d",),
                           impl=f"{here}:fake_synthesis"),
              STAGES["augment"],
              runner.Stage("planted", "fails on process 1", ("data",), impl=f"{here}:fail_on_process_1")]
    with hosts.activate(share):
        results = runner.run_pipeline(stages, config, args.root)
        sources = frames_lib.with_aus(frame_set(40, 0, "s"), ["AU01", "AU06", "AU12"])
        record = synthesize.synthesize_set(args.generator_dir, sources, os.path.join(args.root, "synthesis"),
                                           per_level=3, seed=2, batch_size=8, chunk_size=16)
    print("RESULTS " + json.dumps({"share": [share.index, share.count],
                                   "stages": {r.name: [r.status, r.summary, r.message] for r in results},
                                   "synthesis": {k: record[k] for k in ("num_images", "chunks_generated")}},
                                  default=str), flush=True)


if __name__ == "__main__":
    main()
