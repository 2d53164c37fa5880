"""PRNet (resfcn256, 256x256, width 16) speed on this machine: inference and training images/s.

Variants (each in its own subprocess, since ``XLA_FLAGS`` must be set before jax is imported):
transposed convs 'phase' (jaxau.models.layers) vs 'naive' (lax.conv_transpose), strided convs
's2d' vs 'naive', and default XLA:CPU vs ``--xla_cpu_experimental_ynn_fusion_type=
-individual_convolution``. The train step is Adam on the PRNet loss (weighted squared error of the
normalised position map; uniform weights here) with batch-norm statistics updated.

Usage: ``python benchmarks/registration.py [--iters 3] [--batch 4] [--variants phase:s2d:ynn,...]``.
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


def worker(impl: str, conv_impl: str, iters: int, batch: int, size: int, width: int) -> dict:
    """Times forward and train step for one variant."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from jaxau.models.prnet import PRNet

    model = PRNet(size=size, width=width, impl=impl, conv_impl=conv_impl, scale_output=False)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(0, 1, (batch, size, size, 3)), jnp.float32)
    target = jnp.asarray(rng.uniform(0.2, 0.8, (batch, size, size, 3)), jnp.float32)
    # Parameters drawn in numpy from the shapes: compiling model.init costs tens of seconds.
    shapes = jax.eval_shape(model.init, jax.random.key(0), images)

    def leaf(path, s):
        name = path[-1].key
        if name == "weights":
            return jnp.asarray(rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape),
                               jnp.float32)
        return jnp.ones(s.shape) if name in ("scale", "var") else jnp.zeros(s.shape)

    variables = jax.tree_util.tree_map_with_path(leaf, shapes)
    tx = optax.adam(1e-4)
    opt_state = tx.init(variables["params"])

    def forward(v, x):
        return model.apply(v, x)

    def train_step(v, opt_state, x, y):
        def loss_fn(params):
            pred, upd = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x,
                                    train=True, mutable=["batch_stats"])
            return jnp.mean(jnp.sum(jnp.square(pred - y), axis=-1)), upd
        (loss, upd), grads = jax.value_and_grad(loss_fn, has_aux=True)(v["params"])
        updates, opt_state = tx.update(grads, opt_state)
        params = optax.apply_updates(v["params"], updates)
        return {"params": params, "batch_stats": upd["batch_stats"]}, opt_state, loss

    out = {"impl": impl, "conv_impl": conv_impl, "xla_flags": os.environ.get("XLA_FLAGS", "")}
    for name, fn, args in (("fwd", forward, (variables, images)),
                           ("train", train_step, (variables, opt_state, images, target))):
        t0 = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        out[f"compile_{name}_s"] = time.perf_counter() - t0
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        out[f"gflop_{name}"] = float(cost.get("flops", float("nan"))) / 1e9
        jax.block_until_ready(compiled(*args))
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            times.append(time.perf_counter() - t0)
        out[f"{name}_s"] = min(times)
        out[f"{name}_img_per_s"] = batch / min(times)
        out[f"{name}_gflops"] = out[f"gflop_{name}"] / min(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--variants", default="phase:s2d:ynn,phase:s2d:xla,naive:naive:ynn,"
                        "naive:naive:xla", help="comma list of <phase|naive>:<s2d|naive>:<ynn|xla>")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, conv_impl = args.worker.split(":")
        print("RESULT " + json.dumps(worker(impl, conv_impl, args.iters, args.batch, args.size,
                                            args.width)))
        return
    print(f"PRNet {args.size}/{args.width}, batch {args.batch}, best of {args.iters}")
    print(f"{'convT':6} {'conv':6} {'XLA':4} {'compile f/t s':>14} {'fwd img/s':>10} "
          f"{'train img/s':>12} {'GFLOP/s f/t':>12}")
    for variant in args.variants.split(","):
        impl, conv_impl, convs = variant.split(":")
        env = dict(os.environ)
        if convs == "xla":
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + XLA_CONV_FLAG).strip()
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", f"{impl}:{conv_impl}",
               "--iters", str(args.iters), "--batch", str(args.batch), "--size", str(args.size),
               "--width", str(args.width)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            print(f"{impl:6} {conv_impl:6} {convs:4} FAILED (rc {proc.returncode}): "
                  f"{proc.stderr[-2000:]}")
            continue
        r = json.loads(line[0][7:])
        print(f"{impl:6} {conv_impl:6} {convs:4} {r['compile_fwd_s']:6.1f}/{r['compile_train_s']:<7.1f}"
              f" {r['fwd_img_per_s']:10.2f} {r['train_img_per_s']:12.2f} "
              f"{r['fwd_gflops']:5.1f}/{r['train_gflops']:<6.1f}", flush=True)
    print(f"(GFLOP/s vs ~{PEAK_GFLOPS:.0f} GFLOP/s float32 matmul peak; FLOPs from XLA cost "
          "analysis)")


if __name__ == "__main__":
    main()
