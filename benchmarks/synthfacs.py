"""SynthFACS rendering throughput (images/s) and end-to-end example generation speed.

  python benchmarks/synthfacs.py [--repeats 3] [--batch 16]

Reports, per (image size, supersampling, position-map size): compile time, best-of-N ms per batch,
ms per image and images/s for the jitted renderer alone, then the pure-Python generator end to end
(subject sampling + timeline + rendering + example dicts) for a small config. Rasterization is
integer/scatter-bound, not matmul-bound, so no GFLOP/s figure is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxau.face import synth  # noqa: E402


def bench_render(size, ss, uv, batch, repeats):
    cfg = dataclasses.replace(synth.get_config("disfa_small"), image_size=size, supersample=ss,
                              uv_size=uv, batch_size=batch)
    frames = []
    i = 0
    while len(frames) < batch:
        frames += synth.subject_frames(cfg, "train", i % cfg.subjects["train"])
        i += 1
    frames = frames[:batch]
    t = time.perf_counter()
    synth.render_frames(cfg, frames)
    compile_s = time.perf_counter() - t
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = synth.render_frames(cfg, frames)
        jax.block_until_ready(out[-1]["image"])
        best = min(best, time.perf_counter() - t)
    print(f"render {size}px ss{ss} uv{uv} batch {batch}: first call {compile_s:6.1f} s, "
          f"best {1e3 * best:7.0f} ms/batch = {1e3 * best / batch:6.1f} ms/image = "
          f"{batch / best:6.1f} images/s")


def bench_generate(name, frames, repeats):
    cfg = synth.get_config(name)
    list(synth.generate_examples(cfg, "train", subjects=[0], max_frames_per_subject=frames))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        n = len(list(synth.generate_examples(cfg, "train", subjects=[0, 1],
                                             max_frames_per_subject=frames)))
        best = min(best, time.perf_counter() - t)
    print(f"generate_examples {name}: {n} examples in {best:.2f} s = {n / best:.1f} examples/s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs")
    for size, ss, uv in ((128, 2, 128), (256, 1, 0), (256, 2, 256)):
        bench_render(size, ss, uv, args.batch, args.repeats)
    bench_generate("disfa_small", 8, args.repeats)


if __name__ == "__main__":
    main()
