"""XLA:CPU's convolutions against oneDNN's at the VGG16 estimator's layer shapes, same run (issue #19).

Keras/TF runs the estimator's training step 1.5-1.7x faster than our XLA step at the demo's shape;
TF's convolutions are oneDNN's. This measures, layer by layer, what a oneDNN convolution would give
our step if XLA called it (an XLA custom call hands over NHWC / HWIO buffers): for each of VGG16's
13 convolutions at ``--size``, ``--batch`` and ``--width``, the forward, input-gradient and
weight-gradient times of

* **xla**: ``jaxau.models.layers.conv`` exactly as the estimator computes the layer (narrow layers
  over 2x2 blocks), each of the three jitted alone, with the launchers' XLA flags;
* **onednn nhwc**: oneDNN primitives on the NHWC / HWIO buffers themselves;
* **onednn blocked**: oneDNN in its preferred blocked layouts, with the reorders an NHWC caller
  needs (inputs in, outputs out) counted in each primitive's time.

oneDNN is not a dependency: point ``--onednn`` at a prefix with ``include/oneapi/dnnl/dnnl.hpp``
and ``lib/libdnnl.so``, e.g. the two CPU wheels unpacked (PyPI, GNU OpenMP build, no other
dependencies)::

    pip download --no-deps onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 -d /tmp/dnnl
    (cd /tmp/dnnl && for w in *.whl; do unzip -oq $w -d x; done && mkdir -p pfx &&
     cp -r x/*/data/lib x/*/data/include pfx/)
    python benchmarks/conv_onednn.py --onednn=/tmp/dnnl/pfx

The C++ side (``benchmarks/conv_onednn.cpp``) is compiled with ``g++`` into a temporary directory
and run with ``OMP_NUM_THREADS`` = the CPU count; XLA runs in this process. The two are timed one
after the other per layer (best of ``--rounds`` means of ``--reps`` calls). Prints a table and one
JSON line; the sum over layers is what the 13 convolutions of one training step cost each way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "conv_onednn.cpp")


def check_prefix(prefix: str) -> str:
    """The oneDNN prefix, or one line that says what is missing and how to get it (exit status 2)."""
    prefix = os.path.abspath(prefix)
    header = os.path.join(prefix, "include", "oneapi", "dnnl", "dnnl.hpp")
    library = os.path.join(prefix, "lib", "libdnnl.so")
    for path in (header, library):
        if not os.path.exists(path):
            print(f"conv_onednn: --onednn={prefix}: {path} not found; unpack the onednn-cpu-gomp and "
                  f"onednn-devel-cpu-gomp wheels there (this file's docstring).", file=sys.stderr)
            raise SystemExit(2)
    return prefix


def build(prefix: str, out_dir: str) -> str:
    """Compiles the C++ timer against the oneDNN at ``prefix``; returns the executable's path."""
    exe = os.path.join(out_dir, "conv_onednn")
    cmd = ["g++", "-O2", "-std=c++17", SOURCE, f"-I{prefix}/include", f"-L{prefix}/lib", "-ldnnl",
           f"-Wl,-rpath,{prefix}/lib", "-o", exe]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        print(f"conv_onednn: building {SOURCE} failed:\n{done.stderr}", file=sys.stderr)
        raise SystemExit(2)
    return exe


def vgg_layers(size: int, width: float) -> list[tuple[str, int, int, int]]:
    """(name, spatial side, c_in, c_out) of VGG16's convolutions at ``size`` px and ``width``."""
    from jaxau.models import vgg

    out, side, c_in = [], size, 3
    for block, num_convs, channels in vgg.VGG16_BLOCKS:
        for i in range(1, num_convs + 1):
            c_out = vgg.scaled_width(channels, width)
            out.append((f"block{block}_conv{i}", side, c_in, c_out))
            c_in = c_out
        side //= 2
    return out


def onednn_times(exe: str, layers: list, batch: int, rounds: int, reps: int) -> dict:
    """{(side, c_in, c_out, layout): {forward_ms, input_grad_ms, weight_grad_ms, impl}}."""
    lines = "".join(f"{batch} {side} {side} {ci} {co} 3\n" for _, side, ci, co in layers)
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count() or 1))
    done = subprocess.run([exe, str(rounds), str(reps)], input=lines, capture_output=True, text=True,
                          env=env, check=True)
    out = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        out[(row["h"], row["c_in"], row["c_out"], row["layout"])] = row
    return out


def xla_times(layers: list, batch: int, rounds: int, reps: int) -> dict:
    """{(side, c_in, c_out): {forward_ms, input_grad_ms, weight_grad_ms, block}} as the estimator runs it."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxau.models import layers as L
    from jaxau.models import vgg

    def best_ms(fn, *args):
        for _ in range(3):
            jax.block_until_ready(fn(*args))
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(reps):
                jax.block_until_ready(fn(*args))
            best = min(best, (time.perf_counter() - start) / reps)
        return best * 1e3

    rng = np.random.default_rng(0)
    out = {}
    for _, side, ci, co in layers:
        block = int(vgg.VGG16.narrow_block) if L.is_narrow(ci, co) else 1

        def conv(x, k, block=block):
            return L.conv(x, k, (1, 1), "SAME", impl="naive", block=block)

        x = jnp.asarray(rng.standard_normal((batch, side, side, ci), np.float32))
        k = jnp.asarray(rng.standard_normal((3, 3, ci, co), np.float32) * 0.1)
        g = jnp.asarray(rng.standard_normal((batch, side, side, co), np.float32))
        fwd = jax.jit(conv)
        d_input = jax.jit(lambda x, k, g: jax.vjp(lambda a: conv(a, k), x)[1](g)[0])
        d_kernel = jax.jit(lambda x, k, g: jax.vjp(lambda b: conv(x, b), k)[1](g)[0])
        out[(side, ci, co)] = {"forward_ms": best_ms(fwd, x, k), "input_grad_ms": best_ms(d_input, x, k, g),
                               "weight_grad_ms": best_ms(d_kernel, x, k, g), "block": block}
    return out


PARTS = ("forward_ms", "input_grad_ms", "weight_grad_ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onednn", required=True, help="prefix with include/oneapi/dnnl and lib/libdnnl.so")
    parser.add_argument("--size", type=int, default=64, help="image side (demo: 64)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (demo: 32)")
    parser.add_argument("--width", type=float, default=0.125, help="VGG16 width (demo: 1/8)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args(argv)
    prefix = check_prefix(args.onednn)

    from jaxau import platform
    platform.configure_xla()

    layers = vgg_layers(args.size, args.width)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(prefix, tmp)
        dnnl = onednn_times(exe, layers, args.batch, args.rounds, args.reps)
    xla = xla_times(layers, args.batch, args.rounds, args.reps)

    rows, totals = [], {"xla": 0.0, "nhwc": 0.0, "blocked": 0.0}
    print(f"VGG16 width {args.width} at {args.size} px, batch {args.batch}: ms per convolution "
          f"(forward / input grad / weight grad = sum)")
    print(f"{'layer':14s} {'shape':>16s} {'xla':>28s} {'onednn nhwc':>28s} {'onednn blocked':>28s}")
    for name, side, ci, co in layers:
        cells = {"xla": xla[(side, ci, co)], "nhwc": dnnl[(side, ci, co, "nhwc")],
                 "blocked": dnnl[(side, ci, co, "blocked")]}
        row = {"layer": name, "side": side, "c_in": ci, "c_out": co, "xla_block": cells["xla"]["block"],
               "onednn_impl": cells["blocked"]["impl"]}
        text = []
        for key, cell in cells.items():
            parts = [cell[p] for p in PARTS]
            totals[key] += sum(parts)
            row[key] = {p: round(cell[p], 4) for p in PARTS}
            text.append(f"{parts[0]:.2f}/{parts[1]:.2f}/{parts[2]:.2f}={sum(parts):.2f}")
        rows.append(row)
        print(f"{name:14s} {f'{side}px {ci}->{co}':>16s} {text[0]:>28s} {text[1]:>28s} {text[2]:>28s}")
    print(f"{'all 13':14s} {'':>16s} {totals['xla']:>28.2f} {totals['nhwc']:>28.2f} {totals['blocked']:>28.2f}")
    best = min(totals["nhwc"], totals["blocked"])
    print(f"oneDNN (best layout per run) / XLA: {best / totals['xla']:.2f}")
    print(json.dumps({"size": args.size, "batch": args.batch, "width": args.width, "cpus": os.cpu_count(),
                      "total_ms": {k: round(v, 3) for k, v in totals.items()},
                      "onednn_over_xla": round(best / totals["xla"], 3), "layers": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
