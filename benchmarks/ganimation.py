"""GANimation training-iteration speed on this machine (128x128, batch 4, 7 AUs, full widths).

One iteration = a critic step; every ``n_critic``-th also a generator step, so the average iteration
is ``((n_critic - 1) * t_D + t_DG) / n_critic``. Each variant runs in its own subprocess because
``XLA_FLAGS`` must be set before jax is imported:

* transposed convolutions: 'phase' (jaxau.models.layers, plain convs) vs 'naive' (lax.conv_transpose),
  everything else as shipped (space-to-depth strided convs in G, im2col + matmul in D);
* 'allnaive': lax convolutions everywhere (a direct port);
* default XLA:CPU (convolutions through YNNPACK) vs
  ``--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`` (XLA's own conv emitter).

Usage: ``python benchmarks/ganimation.py [--iters 3] [--variants phase:ynn,phase:xla,...]``.
Reported GFLOP/s use XLA's cost analysis of the compiled step (forward + backward + the WGAN-GP
double backward) against the machine's ~277 GFLOP/s float32 matmul peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

XLA_CONV_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
PEAK_GFLOPS = 277.0


def worker(impl: str, iters: int, size: int, batch: int, num_aus: int, n_critic: int) -> dict:
    """Measures compile and step times for one variant; returns a JSON-able dict."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxau.models.ganimation import Discriminator, Generator
    from jaxau.train import gan_steps

    if impl == "allnaive":  # plain lax convolutions everywhere: what a direct port gets
        g = Generator(conv_transpose_impl="naive", conv_impl="naive")
        d = Discriminator(num_aus=num_aus, image_size=size, conv_impl="naive")
    else:  # 'phase' or 'naive' transposed convs, fast strided / GEMM convs otherwise
        g = Generator(conv_transpose_impl=impl)
        d = Discriminator(num_aus=num_aus, image_size=size)
    state = gan_steps.create_gan_state(jax.random.key(0), g, d, size, num_aus)
    rng = np.random.default_rng(0)
    batch_data = {
        "image": jnp.asarray(rng.uniform(-1, 1, (batch, size, size, 3)), jnp.float32),
        "aus": jnp.asarray(rng.uniform(0, 1, (batch, num_aus)), jnp.float32),
        "target_aus": jnp.asarray(rng.uniform(0, 1, (batch, num_aus)), jnp.float32),
        "target_image": jnp.asarray(rng.uniform(-1, 1, (batch, size, size, 3)), jnp.float32),
    }
    out = {"impl": impl, "xla_flags": os.environ.get("XLA_FLAGS", "")}
    steps = {}
    for name, fn in (("d", gan_steps.d_step), ("dg", gan_steps.d_g_step)):
        step = jax.jit(functools.partial(fn, generator=g, discriminator=d, axis_name=None),
                       donate_argnums=0)
        t0 = time.perf_counter()
        compiled = step.lower(state, batch_data, jax.random.key(0)).compile()
        out[f"compile_{name}_s"] = time.perf_counter() - t0
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        out[f"gflop_{name}"] = float(cost.get("flops", float("nan"))) / 1e9
        steps[name] = compiled
    # Warm-up once each, then time; keep the best of `iters` runs (shared, noisy machine).
    for name in ("d", "dg"):
        state, m = steps[name](state, batch_data, jax.random.key(1))
        jax.block_until_ready(m)
        times = []
        for i in range(iters):
            t0 = time.perf_counter()
            state, m = steps[name](state, batch_data, jax.random.key(2 + i))
            jax.block_until_ready((state, m))
            times.append(time.perf_counter() - t0)
        out[f"{name}_s"] = min(times)
        out[f"{name}_all_s"] = times
    out["iteration_s"] = ((n_critic - 1) * out["d_s"] + out["dg_s"]) / n_critic
    for name in ("d", "dg"):
        out[f"gflops_{name}"] = out[f"gflop_{name}"] / out[f"{name}_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--num_aus", type=int, default=7)
    parser.add_argument("--n_critic", type=int, default=5)
    parser.add_argument("--variants", default="phase:ynn,phase:xla,naive:ynn,naive:xla",
                        help="comma list of <phase|naive|allnaive>:<ynn|xla>")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        res = worker(args.worker, args.iters, args.size, args.batch, args.num_aus, args.n_critic)
        print("RESULT " + json.dumps(res))
        return
    print(f"GANimation train step, {args.size}x{args.size}, batch {args.batch}, {args.num_aus} AUs, "
          f"n_critic {args.n_critic}, best of {args.iters}")
    print(f"{'impl':6} {'convs':4} {'compile D/DG s':>15} {'D s':>7} {'D+G s':>7} {'iter s':>7} "
          f"{'GFLOP D/DG':>11} {'GFLOP/s D/DG':>13}")
    for variant in args.variants.split(","):
        impl, convs = variant.split(":")
        env = dict(os.environ)
        flags = env.get("XLA_FLAGS", "")
        if convs == "xla":
            env["XLA_FLAGS"] = (flags + " " + XLA_CONV_FLAG).strip()
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--iters",
               str(args.iters), "--size", str(args.size), "--batch", str(args.batch),
               "--num_aus", str(args.num_aus), "--n_critic", str(args.n_critic)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            print(f"{impl:6} {convs:4} FAILED (rc {proc.returncode}): {proc.stderr[-2000:]}")
            continue
        r = json.loads(line[0][7:])
        print(f"{impl:6} {convs:4} {r['compile_d_s']:7.1f}/{r['compile_dg_s']:<7.1f} "
              f"{r['d_s']:7.2f} {r['dg_s']:7.2f} {r['iteration_s']:7.2f} "
              f"{r['gflop_d']:5.1f}/{r['gflop_dg']:<5.1f} "
              f"{r['gflops_d']:6.1f}/{r['gflops_dg']:<6.1f}", flush=True)
    print(f"(GFLOP/s vs ~{PEAK_GFLOPS:.0f} GFLOP/s float32 matmul peak; FLOPs from XLA cost "
          "analysis)")


if __name__ == "__main__":
    main()
