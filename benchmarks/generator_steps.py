"""What one generator update costs at a config's settings: the three GAN step kinds, timed.

The generator stage runs three compiled steps (`jaxau.train.generator.StepDispatcher`): the critic's
expression-only warm-up step, a critic step (G forward for the fakes, D with the gradient penalty)
and a critic + generator step (G's two forwards for the cycle, both backwards through D). Each is
timed on random inputs of the config's shape (median of ``--iters`` after one compiling call), with
XLA's FLOP count of the compiled step, its GFLOP/s and the fraction of a float32 2048² matmul
measured in the same process (the machine's peak for dense work). The time per G update at
``n_critic`` and the G updates a given number of GAN-phase seconds holds follow from these.

Usage::

    python benchmarks/generator_steps.py                           # the demo's generator
    python benchmarks/generator_steps.py --config=configs/paper/table2.py:medium
    python benchmarks/generator_steps.py generator.batch_size=16 generator.g_width=12
    python benchmarks/generator_steps.py --convs      # also each of G's convolutions alone

``--convs`` adds G's convolutions one by one (forward + input and weight gradients at the config's
batch size, computed as the resize-upsampling generator computes them), under ``"convs"``: where a G
pass spends its time. XLA's FLOPs of a blocked or upsampling convolution count the zero taps its
rearranged kernel carries.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _times(fn, iters: int) -> list[float]:
    """Wall seconds of ``iters`` calls of ``fn`` (which blocks until its result is ready)."""
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _gflop(compiled) -> float:
    """XLA's FLOP count of a compiled computation, in GFLOP."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan"))) / 1e9


def _rates(seconds: float, gflop: float, peak: float) -> dict:
    return {"seconds": round(seconds, 5), "gflop": round(gflop, 4), "gflops": round(gflop / seconds, 1),
            "fraction_of_peak": round(gflop / seconds / peak, 3)}


def matmul_peak_gflops(n: int = 2048, iters: int = 10) -> float:
    """Best float32 ``n x n`` matmul rate of this process, GFLOP/s."""
    import jax
    import jax.numpy as jnp

    x = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(x).block_until_ready()
    return 2 * n ** 3 / min(_times(lambda: f(x).block_until_ready(), iters)) / 1e9


def generator_convs(s: dict, num_aus: int) -> list[tuple[str, int, int, int, int, int, int, int]]:
    """(name, size, in, out, kernel, stride, pad, upsample) of each convolution of one G pass.

    As the resize-upsampling generator computes them: the upsampling convolutions read the
    half-size input (``upsample`` 2, `layers.upsample_conv`) and the two heads are one 7x7
    convolution with 3 + 1 outputs.
    """
    px, d = int(s["image_size"]), int(s["g_width"])
    convs = [("input 7x7", px, 3 + num_aus, d, 7, 1, 3, 1), ("down 4x4/2", px, d, 2 * d, 4, 2, 1, 1),
             ("down 4x4/2", px // 2, 2 * d, 4 * d, 4, 2, 1, 1)]
    convs += [("block 3x3", px // 4, 4 * d, 4 * d, 3, 1, 1, 1)] * (2 * int(s["g_blocks"]))
    convs += [("up x2 3x3", px // 4, 4 * d, 2 * d, 3, 1, 1, 2), ("up x2 3x3", px // 2, 2 * d, d, 3, 1, 1, 2),
              ("heads 7x7", px, d, 4, 7, 1, 3, 1)]
    return convs


def time_convs(s: dict, num_aus: int, batch: int, iters: int, peak: float) -> list[dict]:
    """Each distinct convolution of :func:`generator_convs` timed alone (forward + both gradients),
    computed as the generator does (narrow ones over 2x2 blocks, `layers.is_narrow`)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxau.models import layers

    def apply(x, w, stride, pad, up):
        pads = ((pad, pad), (pad, pad))
        if up > 1:
            return layers.upsample_conv(x, w, up, pads)
        block = 2 if stride == 1 and layers.is_narrow(x.shape[-1], w.shape[-1]) else 1
        return layers.conv(x, w, (stride, stride), pads, block=block)

    rows, seen = [], {}
    for name, hw, ci, co, k, stride, pad, up in generator_convs(s, num_aus):
        key = (name, hw, ci, co)
        if key in seen:
            seen[key]["count"] += 1
            continue
        x = jnp.asarray(np.random.default_rng(0).normal(size=(batch, hw, hw, ci)).astype(np.float32))
        w = jnp.asarray(np.random.default_rng(1).normal(size=(k, k, ci, co)).astype(np.float32) * 0.05)
        step = jax.jit(jax.grad(lambda x, w, st=stride, p=pad, u=up: jnp.sum(
            apply(x, w, st, p, u) ** 2), argnums=(0, 1)))
        jax.block_until_ready(step(x, w))
        sec = float(np.median(_times(lambda: jax.block_until_ready(step(x, w)), iters)))
        row = {"conv": f"{name} {ci}->{co} @{hw}", "count": 1,
               **_rates(sec, _gflop(step.lower(x, w).compile()), peak)}
        seen[key] = row
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.py", help="path[:arg] of an experiment config")
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--num_aus", type=int, default=7, help="AUs the generator is conditioned on (FERA 2017: 7)")
    parser.add_argument("--convs", action="store_true", help="also time each of G's convolutions alone")
    parser.add_argument("overrides", nargs="*", help="section.field=value")
    args = parser.parse_args(argv)

    import jax
    import numpy as np

    from jaxau import cli
    from jaxau.stages import graph
    from jaxau.train import generator as gen
    from jaxau.train import parallel

    config = graph.apply_overrides(cli.load_config(args.config), "; ".join(args.overrides), "command line")
    s = gen.settings(config.generator)
    num_aus = args.num_aus
    b, px = int(s["batch_size"]), int(s["image_size"])
    mesh = parallel.make_mesh()
    d_only, d_and_g, d_exp = gen._compiled_steps(gen._hashable(s), num_aus, mesh)
    rng = np.random.default_rng(0)
    batch = {"image": rng.uniform(-1, 1, (b, px, px, 3)).astype(np.float32),
             "aus": rng.uniform(0, 1, (b, num_aus)).astype(np.float32),
             "aus_valid": np.ones((b, num_aus), bool),
             "target_aus": rng.uniform(0, 1, (b, num_aus)).astype(np.float32)}
    if float(s["lambda_ids"]) > 0:
        batch["target_image"] = rng.uniform(-1, 1, (b, px, px, 3)).astype(np.float32)
        batch["target_image_mask"] = np.ones((b,), np.float32)
    key = jax.random.key(0)
    peak = matmul_peak_gflops()
    out = {"config": args.config, "overrides": args.overrides, "batch_size": b, "image_size": px,
           "g_width": s["g_width"], "g_blocks": s["g_blocks"], "d_width": s["d_width"],
           "d_layers": s["d_layers"], "devices": jax.device_count(), "matmul_peak_gflops": round(peak, 1)}
    for name, fn in (("warmup", d_exp), ("critic", d_only), ("critic_and_generator", d_and_g)):
        # Steps donate their state: a fresh one per kind, replaced by each call's result.
        state = [parallel.replicate(gen.init_state(s, num_aus, 0), mesh)]
        gflop = _gflop(fn.lower(state[0], batch, key).compile())

        def call(fn=fn, state=state):
            state[0], _ = fn(state[0], batch, key)
            jax.block_until_ready(state[0])

        (first,) = _times(call, 1)
        sec = float(np.median(_times(call, args.iters)))
        out[name] = {**_rates(sec, gflop, peak), "first_call_seconds": round(first, 2)}
    n = int(s["n_critic"])
    per_update = out["critic_and_generator"]["seconds"] + (n - 1) * out["critic"]["seconds"]
    out["seconds_per_generator_update"] = round(per_update, 5)
    out["generator_updates_per_100_s"] = round(100.0 / per_update, 1)
    if args.convs:
        out["convs"] = time_convs(s, num_aus, b, args.iters, peak)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    from jaxau import platform

    platform.configure_xla()  # the launcher's XLA flags, before JAX starts: the numbers are the stage's
    sys.exit(main())
