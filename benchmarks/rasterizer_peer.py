"""Our rasterizer against face3d's C++ one, same mesh, same run (issue #19 item 2).

The peer is YadiraF/face3d's ``render_colors`` (its Cython ``mesh_core_cython`` extension: a serial
C++ z-buffer rasterizer with barycentric colour interpolation), brought and built outside this
repository by the user::

    git clone https://github.com/YadiraF/face3d /tmp/face3d
    (cd /tmp/face3d/face3d/mesh/cython && pip install cython setuptools && python setup.py build_ext -i)
    python benchmarks/rasterizer_peer.py --peer=/tmp/face3d

Both render the PRNet-size face mesh of ``benchmarks/rasterizer.py`` (a 256x256 UV grid masked to
an ellipse: 43,867 vertices, ~86k triangles; larger z nearer in both) with per-vertex colours into
a 256x256 image, batch 1: ours is ``jax.jit(rasterize + interpolate)``, once with the C++ kernel
(``impl='native'``, the CPU default) and once on the jax.numpy path (``impl='xla'``); the peer's is
its own ``render_colors`` (buffers allocated per call, as it does). Timed in alternating segments
of ``--reps`` calls for ``--rounds`` rounds in one process; per call the best and median wall time
and process CPU time (all threads: XLA may use both cores, face3d uses one). The ratio ours / peer
of the median CPU time is the issue's measure, one per implementation of ours. The images are
compared first (coverage agreement and colour difference on pixels both cover; ours native against
ours xla bit for bit) so the timings are of the same work; face3d samples a pixel at its corner
where we sample its centre, so our copy of the mesh is shifted by half a pixel.

The peer's module is loaded without its package's ``__init__`` (which imports matplotlib, scipy and
scikit-image for unrelated tools); nothing of it is copied here.

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def load_peer(root: str):
    """face3d's ``mesh.render`` module from a checkout whose Cython extension is built."""
    package = os.path.join(os.path.abspath(root), "face3d")
    cython_dir = os.path.join(package, "mesh", "cython")
    if not os.path.isdir(cython_dir) or not any(f.startswith("mesh_core_cython") and f.endswith(".so")
                                                for f in os.listdir(cython_dir)):
        raise SystemExit(f"rasterizer_peer: no built mesh_core_cython extension under {cython_dir}; "
                         f"build it there with 'python setup.py build_ext -i' (see this file's docstring).")
    for name, path in (("face3d", package), ("face3d.mesh", os.path.join(package, "mesh")),
                       ("face3d.mesh.cython", cython_dir)):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    return importlib.import_module("face3d.mesh.render")


def segment(fn, reps: int) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds of ``reps`` calls of ``fn`` (each must block until done)."""
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, help="face3d checkout with its Cython extension built")
    parser.add_argument("--size", type=int, default=256, help="image side (the mesh fills ~60 %%)")
    parser.add_argument("--grid", type=int, default=256, help="UV grid side of the mesh (256: PRNet)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args(argv)
    render = load_peer(args.peer)

    import jax

    from benchmarks.rasterizer import face_mesh
    from jaxau.geometry import interpolate, rasterize

    verts, tris = face_mesh(grid=args.grid, image=args.size)
    colors = np.random.default_rng(1).uniform(size=(len(verts), 3)).astype(np.float32)
    size = args.size

    def ours_fn(impl):
        @jax.jit
        def fn(v, c):
            frag = rasterize(v, tris, size, size, impl=impl)
            return interpolate(c, tris, frag), frag.mask
        return fn

    fns = {"native": ours_fn("native"), "xla": ours_fn("xla")}
    # face3d samples pixel (row i, column j) at the point (j, i), ours at its centre (j + 0.5,
    # i + 0.5): shifting our vertices by half a pixel makes the two sample the same points.
    shifted = verts + np.asarray([0.5, 0.5, 0.0], np.float32)
    v_dev, c_dev = jax.device_put(shifted), jax.device_put(colors)
    ours_image, ours_mask = (np.asarray(a) for a in fns["native"](v_dev, c_dev))
    xla_image, xla_mask = (np.asarray(a) for a in fns["xla"](v_dev, c_dev))
    peer_image = render.render_colors(verts, tris, colors, size, size)
    # face3d leaves uncovered pixels 0; coverage = any channel written (colours are > 0 a.s.).
    peer_mask = np.any(peer_image > 0, axis=-1)
    ours_mask = ours_mask.reshape(size, size).astype(bool)
    both = ours_mask & peer_mask
    agreement = {
        "coverage_ours": float(ours_mask.mean()), "coverage_peer": float(peer_mask.mean()),
        "mask_agreement": float(np.mean(ours_mask == peer_mask)),
        "mean_abs_colour_difference_on_common_pixels": float(
            np.mean(np.abs(ours_image.reshape(size, size, 3)[both] - peer_image[both]))),
        "native_equals_xla": bool(np.array_equal(ours_image, xla_image) and np.array_equal(ours_mask, xla_mask)),
    }
    runs = {name: (lambda f=f: jax.block_until_ready(f(v_dev, c_dev))) for name, f in fns.items()}

    def peer():
        render.render_colors(verts, tris, colors, size, size)

    runs["face3d"] = peer
    for fn in runs.values():  # warm caches / allocators
        segment(fn, 3)
    record = {name: ([], []) for name in runs}
    for r in range(args.rounds):
        order = list(runs.items()) if r % 2 == 0 else list(runs.items())[::-1]
        for name, fn in order:
            w, c = segment(fn, args.reps)
            record[name][0].extend(w)
            record[name][1].extend(c)
    out = {"size": size, "vertices": int(len(verts)), "triangles": int(len(tris)), "batch": 1,
           "rounds": args.rounds, "reps": args.reps, "cpu_count": os.cpu_count(),
           "load_average": os.getloadavg(), "agreement": agreement}
    print(f"{len(verts)} vertices, {len(tris)} triangles, {size}x{size}, batch 1; "
          f"{args.rounds} rounds x {args.reps} calls; load {os.getloadavg()[0]:.1f}")
    print(f"agreement: mask {agreement['mask_agreement']:.4f}, colour |diff| on common pixels "
          f"{agreement['mean_abs_colour_difference_on_common_pixels']:.4f}; native image == xla image: "
          f"{agreement['native_equals_xla']}")
    for name in runs:
        w, c = (np.asarray(x) * 1e3 for x in record[name])
        out[name] = {"wall_ms_best": float(w.min()), "wall_ms_median": float(np.median(w)),
                     "cpu_ms_best": float(c.min()), "cpu_ms_median": float(np.median(c))}
        print(f"  {name:6s} wall best {w.min():6.2f} ms  median {np.median(w):6.2f} ms   "
              f"CPU best {c.min():6.2f} ms  median {np.median(c):6.2f} ms")
    for name in fns:
        cpu = out[name]["cpu_ms_median"] / out["face3d"]["cpu_ms_median"]
        wall = out[name]["wall_ms_median"] / out["face3d"]["wall_ms_median"]
        out[f"ratio_{name}_cpu_median"], out[f"ratio_{name}_wall_median"] = cpu, wall
        print(f"ours ({name}) / face3d: CPU {cpu:.2f}x, wall {wall:.2f}x (median per call)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
