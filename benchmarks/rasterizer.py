"""Rasterizer speed: PRNet-size face meshes (256x256 UV grid masked to an ellipse).

Run: ``python benchmarks/rasterizer.py [--quick]`` from the repository root. Reports ms per image for
rasterize + interpolate (forward) and forward + backward through ``interpolate`` (gradients w.r.t.
per-vertex colours and vertex positions), at several resolutions, batch sizes and mesh densities,
for each rasterizer implementation in the same run (``--impls``: the C++ kernel ``native`` and the
jax.numpy path ``xla``; see ``jaxau.geometry.native``); then ``soft_silhouette`` (forward, forward +
backward) and ``render_attributes`` with supersampling.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxau.geometry import interpolate, rasterize, render_attributes, soft_silhouette  # noqa


def face_mesh(grid=256, image=256, coverage=0.6, seed=0):
    """A UV-grid mesh masked to an ellipse, warped like a face: (vertices [V,3], triangles [T,3]).

    The ellipse covers ~67% of the UV square (PRNet: 43,867 of 65,536 grid points); it is mapped into
    the image so that it covers ``coverage`` of it, with a smooth bulge in z and a mild yaw.
    """
    r = np.arange(grid)
    vv, uu = np.meshgrid(r, r, indexing="ij")
    cu, cv = (grid - 1) / 2, (grid - 1) / 2
    a = np.sqrt(43867 / 65536 / np.pi) * grid  # radius giving PRNet's vertex count at grid 256
    inside = ((uu - cu) / a) ** 2 + ((vv - cv) / (a * 1.0)) ** 2 <= 1.0
    index = -np.ones((grid, grid), np.int64)
    index[inside] = np.arange(inside.sum())
    # Two triangles per grid cell whose four corners are all inside.
    c00, c01, c10, c11 = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    ok = (c00 >= 0) & (c01 >= 0) & (c10 >= 0) & (c11 >= 0)
    tris = np.concatenate([np.stack([c00[ok], c10[ok], c01[ok]], 1),
                           np.stack([c01[ok], c10[ok], c11[ok]], 1)]).astype(np.int32)
    u = (uu[inside] - cu) / a
    v = (vv[inside] - cv) / a
    z = np.sqrt(np.clip(1.2 - u ** 2 - v ** 2, 0, None))
    yaw = 0.3
    x3 = u * np.cos(yaw) + z * np.sin(yaw)
    z3 = -u * np.sin(yaw) + z * np.cos(yaw)
    scale = np.sqrt(coverage * image * image / (np.pi * np.cos(yaw))) * 1.0
    rng = np.random.default_rng(seed)
    verts = np.stack([image / 2 + scale * x3, image / 2 + scale * v, scale * z3], 1)
    verts[:, :2] += rng.normal(scale=0.05, size=(len(verts), 2))
    return verts.astype(np.float32), tris


def timeit(fn, *args, reps=5):
    """Best wall-clock and best process-CPU seconds of ``reps`` calls (after one warm-up call).

    The machine is shared: CPU time (summed over this process's threads) is the steadier number
    under load; wall time is what a caller waits.
    """
    jax.block_until_ready(fn(*args))
    best_wall = best_cpu = np.inf
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def run(grid, size, batch, reps, impl):
    verts, tris = face_mesh(grid=grid, image=size)
    colors = np.random.default_rng(1).uniform(size=(len(verts), 3)).astype(np.float32)
    vb = np.broadcast_to(verts, (batch,) + verts.shape).copy()
    vb[..., 0] += np.arange(batch)[:, None] * 0.1  # distinct images

    @jax.jit
    def forward(v, c):
        frag = rasterize(v, tris, size, size, impl=impl)
        return interpolate(c, tris, frag), frag.mask

    @jax.jit
    def backward(v, c):
        def loss(v, c):
            frag = rasterize(jax.lax.stop_gradient(v), tris, size, size, impl=impl)
            return jnp.sum(interpolate(c, tris, frag, vertices=v) ** 2)
        return jax.grad(loss, argnums=(0, 1))(v, c)

    fwd = timeit(forward, vb, colors, reps=reps)
    bwd = timeit(backward, vb, colors, reps=reps)
    cov = float(np.mean(np.asarray(forward(vb[:1], colors)[1])))
    ms = lambda t: 1e3 * t / batch  # noqa: E731
    print(f"{impl:6s} V={len(verts):6d} T={len(tris):6d} {size}x{size} batch {batch}: coverage {cov:.2f}  "
          f"forward {ms(fwd[0]):6.1f} ms/img (cpu {ms(fwd[1]):6.1f})  "
          f"fwd+bwd {ms(bwd[0]):6.1f} ms/img (cpu {ms(bwd[1]):6.1f})", flush=True)


def run_soft(size, reps):
    verts, tris = face_mesh(grid=256, image=size)
    colors = np.random.default_rng(1).uniform(size=(len(verts), 3)).astype(np.float32)
    for sigma in (0.5, 1.0):
        fwd = jax.jit(lambda v, s=sigma: soft_silhouette(v, tris, size, size, sigma=s))
        bwd = jax.jit(jax.grad(lambda v, s=sigma: jnp.sum(
            soft_silhouette(v, tris, size, size, sigma=s) ** 2)))
        f, b = timeit(fwd, verts, reps=reps), timeit(bwd, verts, reps=reps)
        print(f"soft_silhouette T={len(tris)} {size}x{size} sigma {sigma}: forward {1e3 * f[0]:6.1f} "
              f"ms (cpu {1e3 * f[1]:6.1f})  fwd+bwd {1e3 * b[0]:6.1f} ms (cpu {1e3 * b[1]:6.1f})",
              flush=True)
    for k in (2, 4):
        ren = jax.jit(lambda v, c, k=k: render_attributes(v, tris, c, size, size, supersample=k))
        r = timeit(ren, verts, colors, reps=reps)
        print(f"render_attributes T={len(tris)} {size}x{size} supersample {k}: {1e3 * r[0]:6.1f} ms "
              f"(cpu {1e3 * r[1]:6.1f})", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="256x256 batch 1 only")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--impls", default="native,xla", help="rasterizer implementations, comma separated")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, devices {jax.devices()}, load average {os.getloadavg()}")
    # (UV grid, image size, batch): grid 512 is the 4x denser mesh.
    configs = [(256, 256, 1)] if args.quick else [
        (256, 256, 1), (256, 256, 8), (256, 224, 1), (256, 224, 8), (256, 512, 1), (512, 256, 1),
        (512, 512, 1)]
    for grid, size, batch in configs:
        for impl in args.impls.split(","):
            run(grid, size, batch, args.reps, impl)
    if not args.quick:
        run_soft(256, args.reps)


if __name__ == "__main__":
    main()
