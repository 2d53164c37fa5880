"""SynthFACS rendering throughput (images/s) and end-to-end example generation speed.

  python benchmarks/synthfacs.py [--repeats 3] [--batch 16]

Reports, per (image size 64 / 128 / 256 px, supersampling 2, position-map size = image size) and
rasterizer implementation (``--impls``: the C++ kernel ``native``, the jax.numpy path ``xla``; same
run): compile time, best-of-N ms per image and images/s for the jitted renderer alone, and the share
of it spent rasterizing (the renderer's two rasterize calls timed alone at the same shapes); then
the pure-Python generator end to end (subject sampling + timeline + rendering + example dicts) for
a small config, and one JSON line with the render rows. Rasterization is integer/scatter-bound, not
matmul-bound, so no GFLOP/s figure is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxau.face import synth  # noqa: E402
from jaxau.geometry import native  # noqa: E402


def _best(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best


def bench_render(size, ss, uv, batch, repeats, impl):
    """Render rate of ``synth.render_frames`` and the share of it spent in ``rasterize``.

    The share is measured by timing the renderer's two rasterize calls alone at the same shapes
    (the head at ``size * ss``, the UV position map at ``uv``) with the same implementation.
    """
    from jaxau.geometry import rasterize
    os.environ[native.ENV] = impl  # read when the renderer is traced; caches cleared below
    jax.clear_caches()
    cfg = dataclasses.replace(synth.get_config("disfa_small"), image_size=size, supersample=ss,
                              uv_size=uv, batch_size=batch)
    frames = []
    i = 0
    while len(frames) < batch:
        frames += synth.subject_frames(cfg, "train", i % cfg.subjects["train"])
        i += 1
    frames = frames[:batch]
    t = time.perf_counter()
    out = synth.render_frames(cfg, frames)
    compile_s = time.perf_counter() - t
    render_s = _best(lambda: synth.render_frames(cfg, frames)[-1]["image"], repeats)
    # The head's rasterization at the supersampled size (image-space vertices of the render; the
    # renderer's depth bias does not change the work) and the position map's in UV space.
    _, rend = synth._pipeline()
    verts = np.stack([o["vertices"] for o in out]) * np.float32([ss, ss, 1])
    head = jax.jit(lambda v: rasterize(v, rend.triangles, size * ss, size * ss, impl=impl))
    jax.block_until_ready(head(verts))
    raster_s = _best(lambda: head(verts), repeats)
    if uv:
        uvz = jnp.stack([rend.uv[:, 0] * uv, rend.uv[:, 1] * uv, rend.uv_depth], -1)
        uvz = jnp.broadcast_to(uvz, (batch,) + uvz.shape)
        pm = jax.jit(lambda v: rasterize(v, rend.pm_triangles, uv, uv, impl=impl))
        jax.block_until_ready(pm(uvz))
        raster_s += _best(lambda: pm(uvz), repeats)
    print(f"{impl:6s} render {size}px ss{ss} uv{uv} batch {batch}: first call {compile_s:6.1f} s, "
          f"best {1e3 * render_s / batch:6.1f} ms/image = {batch / render_s:6.1f} images/s; "
          f"rasterize {1e3 * raster_s / batch:5.2f} ms/image = {100 * raster_s / render_s:4.1f} % "
          f"(T={rend.triangles.shape[0]}, position map T={rend.pm_triangles.shape[0]})", flush=True)
    return {"impl": impl, "size": size, "supersample": ss, "uv_size": uv, "batch": batch,
            "ms_per_image": 1e3 * render_s / batch, "images_per_s": batch / render_s,
            "rasterize_ms_per_image": 1e3 * raster_s / batch, "rasterize_share": raster_s / render_s}


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
    p.add_argument("--impls", default="native,xla", help="rasterizer implementations, comma separated")
    args = p.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs")
    rows = [bench_render(size, ss, uv, args.batch, args.repeats, impl)
            for size, ss, uv in ((64, 2, 64), (128, 2, 128), (256, 2, 256))
            for impl in args.impls.split(",")]
    os.environ.pop(native.ENV, None)
    jax.clear_caches()
    bench_generate("disfa_small", 8, args.repeats)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
