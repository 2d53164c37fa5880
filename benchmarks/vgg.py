"""VGG16 AU-estimator train-step speed: JAX (with/without the YNNPACK convolution flag) vs Keras/TF.

    python benchmarks/vgg.py                 # all configurations, ~5-10 min on 2 cores
    python benchmarks/vgg.py --quick         # 64x64 only
    python benchmarks/vgg.py --no-keras

A train step is forward + backward + Adam on a jitted function (dropout on, 7 AU heads, batch of
random images and labels). Each configuration runs in its own subprocess because XLA flags are read
once at backend start: 'default' (jax 0.10.2 sends convolutions to YNNPACK) and 'no-ynn-conv'
(``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution``, XLA's own conv path;
performance.md). FLOPs: :func:`jaxau.models.vgg.train_step_flops`, i.e. 3x the analytic forward count
(convolutions counted densely including the zero padding, the usual convention; forward + input
gradient + weight gradient = 3 forwards), less the backward of frozen layers in the ``--freeze`` row,
divided by the best step time; the XLA cost analysis of the compiled step is printed too. The denominator is a float32 2048x2048 matmul measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

NO_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
NUM_AUS = 7
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _best_and_median(times):
    times = sorted(times)
    return times[0], times[len(times) // 2]


def worker_matmul(repeats: int = 20) -> dict:
    import jax
    import jax.numpy as jnp

    n = 2048
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).block_until_ready()
        times.append(time.perf_counter() - t)
    best, _ = _best_and_median(times)
    return {"matmul_gflops": 2 * n ** 3 / best / 1e9}


def worker_jax(size: int, batch: int, width: float, steps: int, freeze: str | None) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    sys.path.insert(0, REPO)
    from jaxau.models import vgg
    from jaxau.train import optimizers

    model = vgg.VGG16(num_aus=NUM_AUS, width=width)
    t0 = time.perf_counter()
    params = vgg.init_params(model, size, seed=0)["params"]
    init_s = time.perf_counter() - t0
    patterns = vgg.freeze_patterns(freeze) if freeze else []
    tx = optimizers.make_optimizer({"learning_rate": 5e-5, "freeze": patterns}, params)
    opt_state = tx.init(params)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(size=(batch, size, size, 3)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 6, size=(batch, NUM_AUS)).astype(np.int32))

    def step(params, opt_state, key, x, y):
        def loss_fn(p):
            logits = model.apply({"params": p}, x, train=True, rngs={"dropout": key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    key = jax.random.key(0)
    t0 = time.perf_counter()
    compiled = step.lower(params, opt_state, key, x, y).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    params, opt_state, loss = compiled(params, opt_state, key, x, y)  # warm-up
    loss.block_until_ready()
    times = []
    for i in range(steps):
        t = time.perf_counter()
        params, opt_state, loss = compiled(params, opt_state, jax.random.fold_in(key, i), x, y)
        loss.block_until_ready()
        times.append(time.perf_counter() - t)
    best, median = _best_and_median(times)
    return {"best_s": best, "median_s": median, "compile_s": compile_s, "init_s": init_s,
            "xla_flops": float(cost.get("flops", float("nan"))),
            "analytic_flops": batch * vgg.train_step_flops(size, NUM_AUS, width, freeze),
            "loss": float(loss)}


def worker_keras(size: int, batch: int, steps: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    sys.path.insert(0, REPO)
    from jaxau.models import vgg

    keras.utils.set_random_seed(0)
    # The same network: Keras's VGG16 trunk + fc1/fc2 with dropout 0.5 + a K*6 head.
    trunk = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    x = keras.layers.Flatten()(trunk.output)
    x = keras.layers.Dense(4096, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc2")(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Reshape((NUM_AUS, 6))(keras.layers.Dense(NUM_AUS * 6, name="head")(x))
    model = keras.Model(trunk.input, x)
    model.compile(optimizer=keras.optimizers.Adam(5e-5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    xs = rng.uniform(0, 255, size=(batch, size, size, 3)).astype(np.float32)
    ys = rng.integers(0, 6, size=(batch, NUM_AUS)).astype(np.int32)
    t0 = time.perf_counter()
    model.train_on_batch(xs, ys)
    compile_s = time.perf_counter() - t0
    model.train_on_batch(xs, ys)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(xs, ys)
        times.append(time.perf_counter() - t)
    best, median = _best_and_median(times)
    return {"best_s": best, "median_s": median, "compile_s": compile_s,
            "analytic_flops": 3 * batch * vgg.forward_flops(size, NUM_AUS, 1.0)}


def _run(args: list[str], xla_flags: str | None) -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if xla_flags:
        env["XLA_FLAGS"] = xla_flags
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", *args], env=env,
                          capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"worker {args} (XLA_FLAGS={xla_flags}) failed with code {proc.returncode}:\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="64x64 configurations only")
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--freeze", action="store_true",
                        help="also time 224x224 b2 with block1-2 frozen (paper fine-tuning)")
    args = parser.parse_args()

    if args.worker is not None:
        kind, *rest = args.worker
        if kind == "matmul":
            out = worker_matmul()
        elif kind == "jax":
            size, batch, width, steps, freeze = rest
            out = worker_jax(int(size), int(batch), float(width), int(steps),
                             None if freeze == "none" else freeze)
        else:
            size, batch, steps = rest
            out = worker_keras(int(size), int(batch), int(steps))
        print("RESULT " + json.dumps(out), flush=True)
        return

    configs = [] if args.quick else [(224, 2, 1.0, 5, "none")]
    configs += [(64, 32, 0.25, 20, "none"), (64, 32, 1.0, 5, "none")]
    if args.freeze and not args.quick:
        configs.append((224, 2, 1.0, 5, "block3"))
    peak = _run(["matmul"], None)["matmul_gflops"]
    print(f"float32 2048x2048 matmul: {peak:.0f} GFLOP/s", flush=True)
    results = []  # (framework, conv path, size, batch, width, frozen, result)
    for size, batch, width, steps, freeze in configs:
        for name, flags in (("default", None), ("no-ynn-conv", NO_YNN_FLAG)):
            r = _run(["jax", str(size), str(batch), str(width), str(steps), freeze], flags)
            results.append(("jax", name, size, batch, width, freeze, r))
            print(f"jax {name} {size}x{size} b{batch} w{width} frozen={freeze}: {r['best_s']:.3f} s/step "
                  f"(analytic {r['analytic_flops'] / 1e9:.2f} GFLOP/step, XLA cost analysis "
                  f"{r['xla_flops'] / 1e9:.2f})", flush=True)
    if not args.no_keras:
        for size, batch, steps in ([] if args.quick else [(224, 2, 5)]) + [(64, 32, 5)]:
            r = _run(["keras", str(size), str(batch), str(steps)], None)
            results.append(("keras/tf", "(oneDNN)", size, batch, 1.0, "none", r))
            print(f"keras {size}x{size} b{batch}: {r['best_s']:.3f} s/step", flush=True)
    peak_end = _run(["matmul"], None)["matmul_gflops"]
    # The machine is shared: use the better of the two peak measurements as the denominator.
    denom = max(peak, peak_end)
    print(f"\nmatmul peak at start {peak:.0f}, at end {peak_end:.0f} GFLOP/s; % peak uses {denom:.0f}\n")
    print(f"{'framework':<10} {'XLA conv path':<14} {'input':>7} {'batch':>5} {'width':>5} "
          f"{'frozen':>6} {'best s/step':>11} {'median':>7} {'img/s':>7} {'GFLOP/s':>8} "
          f"{'% peak':>6} {'compile s':>9}")
    for fw, name, size, batch, width, freeze, r in results:
        gf = r["analytic_flops"] / r["best_s"] / 1e9
        print(f"{fw:<10} {name:<14} {size:>7} {batch:>5} {width:>5} {freeze:>6} {r['best_s']:>11.3f} "
              f"{r['median_s']:>7.3f} {batch / r['best_s']:>7.1f} {gf:>8.1f} {100 * gf / denom:>6.1f} "
              f"{r['compile_s']:>9.1f}")


if __name__ == "__main__":
    main()
