"""VGG16 AU-estimator train-step speed: JAX vs Keras/TF, interleaved in one run (issue #5).

    python benchmarks/vgg.py                  # 224/b2 w1, 64/b32 w1, 64/b32 w1/4; ~5 min on 2 cores
    python benchmarks/vgg.py --quick          # 64x64 only
    python benchmarks/vgg.py --breakdown      # + JAX forward / backward / update split
    python benchmarks/vgg.py --ynn-default    # + a JAX row on jax 0.10.2's default YNNPACK conv path
    python benchmarks/vgg.py --freeze         # + 224/b2 with block1-2 frozen (JAX only)
    python benchmarks/vgg.py --bf16           # + bfloat16 compute rows (JAX compute_dtype, Keras
                                              #   mixed_bfloat16): AVX512-BF16 CPUs

The machine is shared, so each framework runs in its own long-lived worker process and the parent
alternates them (JAX, Keras, JAX, Keras, ...) for ``--rounds`` rounds of a few steps each; the best
step of each is compared, both taken under the same conditions. The float32 2048x2048 matmul peak is
measured in the JAX worker before and after every configuration; % of peak uses the better one.

JAX step: the production estimator step (``jaxau.train.estimator.make_train_step`` through
``parallel.data_parallel``: masked softmax cross-entropy over 7 AU heads, dropout, Adam via
``optimizers.make_optimizer``, donated state) with the XLA flag of ``jaxau.platform``
(``FAST_CPU_CONV_FLAG``: XLA's own convolutions instead of YNNPACK). Keras step: the same network
(13 3x3 convs, fc1/fc2 with dropout 0.5, a 7x6 head, the same width multiplier), Adam(5e-5),
``train_on_batch`` in graph mode (oneDNN). FLOPs: :func:`jaxau.models.vgg.train_step_flops`, i.e. 3x
the analytic forward count, divided by the best step time. "CPU s/step" is the median process CPU
time per step (all threads): under load it shows how much work each framework does per step, which
the wall time hides (a framework whose threads wait for a busy core looks slower than it is).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

NUM_AUS = 7
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- workers (child processes; one command per stdin line, one JSON reply per stdout line) -------

def _timed(fn, reps: int, cpu: list | None = None) -> list[float]:
    """Wall times of ``reps`` calls; appends the process CPU time of each call to ``cpu`` if given."""
    times = []
    for _ in range(reps):
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return times


class JaxWorker:
    def __init__(self, size: int, batch: int, width: float, freeze: str | None,
                 compute_dtype: str | None = None):
        sys.path.insert(0, REPO)
        from jaxau import platform

        if not os.environ.get("BENCH_YNN_DEFAULT"):
            platform.configure_xla()
        import jax
        import jax.numpy as jnp
        import numpy as np

        from jaxau.models import vgg
        from jaxau.train import estimator, parallel

        self.jax, self.jnp = jax, jnp
        cfg = {"width": width, "image_size": size, "learning_rate": 5e-5, "num_steps": 1000,
               "freeze": freeze, "dropout": 0.5}
        model = estimator.model_from_config(cfg, NUM_AUS)
        self.model = model
        t0 = time.perf_counter()
        state, self.tx = estimator.init_state(cfg, model, seed=0)
        self.init_s = time.perf_counter() - t0
        mesh = parallel.make_mesh(jax.devices()[:1])
        self.state = parallel.replicate(state, mesh)
        rng = np.random.default_rng(0)
        self.batch = parallel.shard_batch({
            "image": rng.integers(0, 256, size=(batch, size, size, 3)).astype(np.uint8),
            "au_intensity": rng.integers(0, 6, size=(batch, NUM_AUS)).astype(np.int32),
            "target_au": np.full((batch,), -1, np.int32)}, mesh)
        self.key = jax.random.key(0)
        step = parallel.data_parallel(estimator.make_train_step(model, self.tx, compute_dtype), mesh)
        t0 = time.perf_counter()
        self.step = step.lower(self.state, self.batch, self.key).compile()
        self.compile_s = time.perf_counter() - t0
        cost = self.step.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        self.info = {"init_s": self.init_s, "compile_s": self.compile_s,
                     "xla_flops": float(cost.get("flops", float("nan"))),
                     "analytic_flops": batch * vgg.train_step_flops(size, NUM_AUS, width, freeze),
                     "xla_flags": os.environ.get("XLA_FLAGS", "")}
        self._run_steps(1)  # warm-up (first-touch of the donated buffers)

    def _run_steps(self, n, cpu=None):
        def one():
            self.state, metrics = self.step(self.state, self.batch, self.key)
            self.jax.block_until_ready(metrics)
        return _timed(one, n, cpu)

    def run(self, n):
        cpu = []
        return {"times": self._run_steps(n, cpu), "cpu": cpu}

    def matmul(self, reps=15):
        jax, jnp = self.jax, self.jnp
        n = 2048
        a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        f = jax.jit(lambda a, b: a @ b)
        f(a, b).block_until_ready()
        best = min(_timed(lambda: f(a, b).block_until_ready(), reps))
        return {"matmul_gflops": 2 * n ** 3 / best / 1e9}

    def breakdown(self, n):
        """Best times of the forward (loss), forward+backward (gradients) and the optimizer update,
        each as its own jitted function on the live state (the update is donated like the step)."""
        import optax

        jax, jnp = self.jax, self.jnp
        images = self.batch["image"].astype(jnp.float32) / 255.0
        labels = self.batch["au_intensity"]
        params, tx = self.state.params, self.tx

        def loss_fn(p):
            logits = self.model.apply({"params": p}, images, train=True, rngs={"dropout": self.key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        fwd = jax.jit(loss_fn)
        grad = jax.jit(jax.grad(loss_fn))
        fwd(params).block_until_ready()
        t_fwd = min(_timed(lambda: fwd(params).block_until_ready(), n))
        g = grad(params)
        jax.block_until_ready(g)
        t_grad = min(_timed(lambda: jax.block_until_ready(grad(params)), n))

        def update(p, s, g):
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        upd = jax.jit(update, donate_argnums=(0, 1))
        live = [jax.tree.map(jnp.copy, params), jax.tree.map(jnp.copy, self.state.opt_state)]

        def one():
            live[0], live[1] = upd(live[0], live[1], g)
            jax.block_until_ready(live[0])

        one()
        t_upd = min(_timed(one, n))
        return {"forward_s": t_fwd, "grad_s": t_grad, "update_s": t_upd}


class KerasWorker:
    def __init__(self, size: int, batch: int, width: float, bf16: bool = False):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import numpy as np

        sys.path.insert(0, REPO)
        from jaxau.models import vgg

        keras.utils.set_random_seed(0)
        if bf16:  # Keras's mixed precision: bfloat16 compute, float32 variables.
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        L = keras.layers
        inp = keras.Input((size, size, 3))
        x = inp
        # keras.applications.VGG16's trunk (same layer sizes at width 1), with a width multiplier.
        for block, num_convs, channels in vgg.VGG16_BLOCKS:
            for i in range(1, num_convs + 1):
                x = L.Conv2D(vgg.scaled_width(channels, width), 3, padding="same", activation="relu",
                             name=f"block{block}_conv{i}")(x)
            x = L.MaxPooling2D(2, 2, name=f"block{block}_pool")(x)
        fc = vgg.scaled_width(vgg.FC_WIDTH, width)
        x = L.Flatten()(x)
        x = L.Dropout(0.5)(L.Dense(fc, activation="relu", name="fc1")(x))
        x = L.Dropout(0.5)(L.Dense(fc, activation="relu", name="fc2")(x))
        # float32 logits into the loss, as the JAX step's.
        x = L.Reshape((NUM_AUS, vgg.NUM_LEVELS))(L.Dense(NUM_AUS * vgg.NUM_LEVELS, name="head",
                                                         dtype="float32")(x))
        self.model = keras.Model(inp, x)
        self.model.compile(optimizer=keras.optimizers.Adam(5e-5),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        self.xs = rng.uniform(0, 255, size=(batch, size, size, 3)).astype(np.float32)
        self.ys = rng.integers(0, 6, size=(batch, NUM_AUS)).astype(np.int32)
        t0 = time.perf_counter()
        self.model.train_on_batch(self.xs, self.ys)
        self.info = {"compile_s": time.perf_counter() - t0,
                     "analytic_flops": batch * vgg.train_step_flops(size, NUM_AUS, width)}
        self.model.train_on_batch(self.xs, self.ys)

    def run(self, n):
        cpu = []
        return {"times": _timed(lambda: self.model.train_on_batch(self.xs, self.ys), n, cpu), "cpu": cpu}


def worker_main(kind: str, size: int, batch: int, width: float, freeze: str | None):
    # kind: 'jax' / 'keras', with '-bf16' for bfloat16 compute.
    framework, _, dtype = kind.partition("-")
    if framework == "jax":
        w = JaxWorker(size, batch, width, freeze, "bfloat16" if dtype == "bf16" else None)
    else:
        w = KerasWorker(size, batch, width, bf16=dtype == "bf16")
    print("READY " + json.dumps(w.info), flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "quit":
            break
        out = getattr(w, cmd)(*map(int, args))
        print("REPLY " + json.dumps(out), flush=True)


# --- parent ---------------------------------------------------------------------------------------

class Worker:
    """A worker subprocess driven line by line."""

    def __init__(self, kind: str, size: int, batch: int, width: float, freeze: str = "none",
                 ynn_default: bool = False):
        env = dict(os.environ)
        env.pop("XLA_FLAGS", None)
        if ynn_default:
            env["BENCH_YNN_DEFAULT"] = "1"
        self.name = f"{kind}{' (YNNPACK convs)' if ynn_default else ''}"
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", kind, str(size), str(batch),
             str(width), freeze], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.info = self._reply("READY ")

    def _reply(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
        err = self.proc.stderr.read()
        raise RuntimeError(f"{self.name} worker exited with code {self.proc.wait()}:\n{err[-3000:]}")

    def ask(self, cmd: str, *args) -> dict:
        self.proc.stdin.write(" ".join([cmd, *map(str, args)]) + "\n")
        self.proc.stdin.flush()
        return self._reply("REPLY ")

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_config(size, batch, width, freeze, *, rounds, steps, keras, ynn_default, breakdown,
               bf16=False):
    label = f"{size}x{size} b{batch} w{width:g}" + ("" if freeze == "none" else f" frozen<{freeze}")
    workers = [Worker("jax", size, batch, width, freeze)]
    if ynn_default:
        workers.append(Worker("jax", size, batch, width, freeze, ynn_default=True))
    if bf16:
        workers.append(Worker("jax-bf16", size, batch, width, freeze))
    if keras and freeze == "none":
        workers.append(Worker("keras", size, batch, width))
        if bf16:
            workers.append(Worker("keras-bf16", size, batch, width))
    peaks = [workers[0].ask("matmul")["matmul_gflops"]]
    times = {w.name: [] for w in workers}
    cpu = {w.name: [] for w in workers}
    for _ in range(rounds):  # interleaved: every framework once per round, same conditions
        for w in workers:
            out = w.ask("run", steps)
            times[w.name] += out["times"]
            cpu[w.name] += out["cpu"]
    peaks.append(workers[0].ask("matmul")["matmul_gflops"])
    split = workers[0].ask("breakdown", 3) if breakdown else None
    rows = []
    for w in workers:
        ts = sorted(times[w.name])
        rows.append({"config": label, "framework": w.name, "batch": batch, "best_s": ts[0],
                     "median_s": ts[len(ts) // 2], "cpu_s": sorted(cpu[w.name])[len(ts) // 2],
                     "flops": w.info["analytic_flops"],
                     "compile_s": w.info["compile_s"], "xla_flops": w.info.get("xla_flops")})
        w.close()
    return rows, max(peaks), peaks, split


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="64x64 configurations only")
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--ynn-default", action="store_true",
                        help="also time JAX on jax's default YNNPACK convolution path")
    parser.add_argument("--freeze", action="store_true",
                        help="also time 224x224 b2 with block1-2 frozen (paper fine-tuning; JAX only)")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the JAX forward, forward+backward and update separately")
    parser.add_argument("--bf16", action="store_true",
                        help="also time bfloat16 compute (JAX compute_dtype, Keras mixed_bfloat16)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per configuration")
    parser.add_argument("--configs", default=None,
                        help="comma-separated size:batch:width:steps_per_round, e.g. 224:2:1:3 "
                             "(replaces the default list)")
    args = parser.parse_args()

    if args.worker is not None:
        kind, size, batch, width, freeze = args.worker
        worker_main(kind, int(size), int(batch), float(width), None if freeze == "none" else freeze)
        return

    configs = [] if args.quick else [(224, 2, 1.0, "none", 3)]
    configs += [(64, 32, 1.0, "none", 3), (64, 32, 0.25, "none", 10)]
    if args.freeze and not args.quick:
        configs.append((224, 2, 1.0, "block3", 3))
    if args.configs:
        try:
            configs = [(int(a), int(b), float(c), "none", int(d)) for a, b, c, d in
                       (item.split(":") for item in args.configs.split(","))]
        except ValueError as e:
            parser.error(f"--configs={args.configs!r}: expected size:batch:width:steps items ({e}).")
    print(f"load average at start: {_load()}", flush=True)
    all_rows = []
    for size, batch, width, freeze, steps in configs:
        rows, peak, peaks, split = run_config(
            size, batch, width, freeze, rounds=args.rounds, steps=steps, keras=not args.no_keras,
            ynn_default=args.ynn_default, breakdown=args.breakdown, bf16=args.bf16)
        print(f"\n{rows[0]['config']}: matmul peak {peaks[0]:.0f} / {peaks[1]:.0f} GFLOP/s (before / "
              f"after); load {_load()}", flush=True)
        for r in rows:
            gf = r["flops"] / r["best_s"] / 1e9
            xla = f", XLA cost analysis {r['xla_flops'] / 1e9:.2f} GFLOP" if r["xla_flops"] else ""
            print(f"  {r['framework']:<22} best {r['best_s']:.3f} s  median {r['median_s']:.3f} s  "
                  f"{r['batch'] / r['best_s']:7.1f} img/s  {gf:6.1f} GFLOP/s  {100 * gf / peak:5.1f}% "
                  f"of peak  CPU {r['cpu_s']:.3f} s/step (median)  (compile {r['compile_s']:.1f} s; {r['flops'] / 1e9:.2f} GFLOP/step{xla})",
                  flush=True)
            all_rows.append((r, gf, peak))
        best = {r["framework"]: r["best_s"] for r in rows}
        for a, b in (("jax", "keras"), ("jax-bf16", "keras-bf16"), ("jax-bf16", "keras"),
                     ("jax-bf16", "jax"), ("keras-bf16", "keras")):
            if a in best and b in best:
                print(f"  {a} / {b} best-step time: {best[a] / best[b]:.3f}", flush=True)
        if split:
            print(f"  JAX split (best of 3): forward {split['forward_s']:.3f} s, forward+backward "
                  f"{split['grad_s']:.3f} s (backward ~{split['grad_s'] - split['forward_s']:.3f}), "
                  f"optimizer update {split['update_s']:.3f} s", flush=True)
    print(f"\nload average at end: {_load()}\n")
    print("| config | framework | best s/step | median | img/s | GFLOP/s | % peak | peak | CPU s/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r, gf, peak in all_rows:
        print(f"| {r['config']} | {r['framework']} | {r['best_s']:.3f} | {r['median_s']:.3f} | "
              f"{r['batch'] / r['best_s']:.1f} | {gf:.0f} | {100 * gf / peak:.0f} | {peak:.0f} | "
              f"{r['cpu_s']:.3f} |")


if __name__ == "__main__":
    main()
