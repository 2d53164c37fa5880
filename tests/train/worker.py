"""Subprocess entry point for the training-core tests: trains `tests.train.tiny` with the real loop.

    python -m tests.train.worker WORKDIR NUM_STEPS [--devices N] [--sleep S]
        [--coordinator HOST:PORT --num_processes P --process_id I]

Process 0 writes the final state's leaves to WORKDIR/final.npz. A fixture, not a feature.
"""

import argparse
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workdir")
    p.add_argument("num_steps", type=int)
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--coordinator")
    p.add_argument("--num_processes", type=int)
    p.add_argument("--process_id", type=int)
    p.add_argument("--global_batch", type=int, default=8)
    args = p.parse_args()

    os.environ["JAX_PLATFORMS"] = "cpu"
    from jaxau import platform

    platform.configure_xla(num_cpu_devices=args.devices)
    platform.initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                                    initialization_timeout=60)
    import jax
    import numpy as np

    from jaxau.train import input as input_lib
    from jaxau.train import loop, parallel
    from tests.train import tiny

    mesh = parallel.make_mesh()
    data = tiny.make_data(0)
    sampler = input_lib.StepSampler(np.arange(tiny.NUM_EXAMPLES), args.global_batch, seed=3,
                                    process_index=jax.process_index(), process_count=jax.process_count())
    source = input_lib.ArraySource(data)

    def batches(start):
        ds = input_lib.make_dataset(source, sampler, start, args.num_steps)
        return ds.as_numpy_iterator()

    hooks = [lambda step, state: time.sleep(args.sleep)] if args.sleep else []
    result = loop.train(workdir=args.workdir, state=parallel.replicate(tiny.init_state(0), mesh),
                        step_fn=parallel.data_parallel(tiny.train_step, mesh), batches=batches, mesh=mesh,
                        num_steps=args.num_steps, global_batch_size=args.global_batch,
                        rng=jax.random.key(0), checkpoint_every=5, log_every=5, hooks=hooks,
                        async_checkpoints=False)
    if jax.process_index() == 0:
        leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(result.state))]
        np.savez(os.path.join(args.workdir, "final.npz"), *leaves)
        print(f"DONE step={result.step} start={result.start_step} preempted={result.preempted}", flush=True)
    if result.preempted:
        sys.exit(loop.PREEMPTED_EXIT_CODE)


if __name__ == "__main__":
    main()
