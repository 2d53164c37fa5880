"""A prepared accelerator check: training-step speed, FLOP/s, MFU and memory of jaxau's networks.

Measures, at the ``:paper`` shapes of ``configs/paper/base.py`` (``--smoke``: the same code at tiny
shapes, for CPUs and CI):

* ``environment``: JAX version, backend, devices, default matmul precision;
* ``matmul``: a plain square matmul (float32 at default and at highest precision, bfloat16), the
  achievable peak that the steps' FLOP/s are also compared with;
* ``estimator/<dtype>``: one VGG16 training step (`jaxau.train.estimator.make_train_step`);
* ``registration/<dtype>``: one PRNet training step, augmentation included
  (`jaxau.train.prnet.make_train_step`);
* ``generator/<dtype>``: GANimation's critic-only step and critic + generator step
  (`jaxau.train.gan_steps`), combined into one iteration as the training loop interleaves them
  (``n_critic - 1`` critic-only steps per critic + generator step);
* ``data_parallel``: the float32 estimator step over every visible device (global batch = the
  paper's per-device batch x the device count).

``<dtype>`` is ``float32`` (what the pipeline trains with) or ``bfloat16`` (mixed precision:
activations, convolutions and matmuls in bfloat16, parameters, optimizer state, logits and losses in
float32). Every step runs through `jaxau.train.parallel.data_parallel`, the training loop's code path.

FLOPs are the matmul and convolution FLOPs of the step's jaxpr (`benchmarks/jaxpr_flops.py`),
counted before any backend sees the program, so the same step has the same count on every device;
XLA's own ``cost_analysis()`` is kept beside it (``flops_xla``) but not used: on GPUs it does not
count the cuDNN / cuBLAS calls that do the work. Steps repeat one device-resident batch, so the
numbers are compute speed without input-pipeline cost.

Each measurement runs in its own worker process (``--worker NAME``) under its own timeout: a crash,
an out-of-memory or a hang costs that measurement only (it becomes an error entry with the reason),
and the device's peak-memory counter (``memory_stats()['peak_bytes_in_use']``; peak RSS where the
device has no counter, e.g. CPU) belongs to that measurement alone. The orchestrator never touches
the accelerator itself, so a worker gets the whole device. ``device_check.json`` and
``device_check.md`` in ``--out`` are rewritten after every measurement (and on SIGTERM), so the
overall ``timeout`` of ``benchmarks/device_check.sh`` still leaves every finished result.

``--recount OLD_DIR`` re-derives an earlier report's FLOPs, FLOP/s and MFU with this version's
count, on any machine (the steps are traced, not compiled or run), keeping its measured times: a
GPU loan is not spent again on bookkeeping.

Usage (from the repository root; ``benchmarks/device_check.sh`` first installs the GPU build of JAX):

    python benchmarks/device_check.py --out DIR [--smoke] [--time-limit S] [--only estimator,matmul]
    python benchmarks/device_check.py --recount OLD_DIR --out DIR
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import signal
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import jaxpr_flops  # noqa: E402  (needs REPO on the path)

JSON_NAME = "device_check.json"
MARKDOWN_NAME = "device_check.md"
DTYPES = ("float32", "bfloat16")
MODELS = ("estimator", "registration", "generator")
# The estimator without 2x2 blocks for narrow layers (`jaxau.models.layers.is_narrow`): VGG16 at
# the paper's width has none, and at the smoke width the step's jaxpr FLOPs then stay the model's
# own (blocks add their kernels' zero taps), which the smoke test checks against the analytic count.
# PRNet and G are measured as their trainers build them (PRNet 256/16 has four narrow layers:
# the 3->16 input layer and the three 3-channel output layers, ~3 % of its FLOPs; their blocks'
# zero taps make its jaxpr count 3.6 % higher: 8.56 vs 8.26 GFLOP per image forward).
NARROW_BLOCK = 1
# Order of the run: the cheap and most informative first, the GAN steps (the slowest compilations:
# the WGAN-GP double backward) last, so a time limit cuts the least.
MEASUREMENTS = (("environment", "matmul") + tuple(f"{m}/{d}" for m in ("estimator", "registration")
                                                   for d in DTYPES)
                + ("data_parallel",) + tuple(f"generator/{d}" for d in DTYPES))

# Nominal dense (no sparsity) peaks in FLOP/s of an NVIDIA H200 SXM from NVIDIA's datasheet (the
# H100 SXM's Hopper compute, so both share them): FP32 on the CUDA cores 67 T, TF32 tensor cores
# 494.5 T, BF16 tensor cores 989.5 T. Nominal figures at boost clock, not what a kernel sustains:
# the same run's measured matmul peak is reported beside them.
NOMINAL_PEAKS = {
    "H200": {"float32": 67e12, "tf32": 494.5e12, "bfloat16": 989.5e12},
    "H100": {"float32": 67e12, "tf32": 494.5e12, "bfloat16": 989.5e12},
}

# Per-measurement wall-clock caps (seconds), compile included; the overall deadline may cut them.
CAPS = {"paper": {"environment": 90, "matmul": 90, "estimator": 150, "registration": 150,
                  "data_parallel": 150, "generator": 240},
        # XLA:CPU compiles of the full training steps: 10-90 s each on a busy 2-core box.
        "smoke": {"environment": 60, "matmul": 60, "estimator": 150, "registration": 300,
                  "data_parallel": 150, "generator": 240}}
# A measurement is not started with less than this left before the deadline (it could not finish).
MIN_START_S = {"paper": 30.0, "smoke": 5.0}
# Seconds of timed steps per measurement (after compilation and one warm-up step).
TIMED_S = {"paper": 3.0, "smoke": 0.3}
MAX_TIMED_STEPS = {"paper": 200, "smoke": 20}
MATMUL_N = {"paper": 8192, "smoke": 512}
# Relative compile cost on XLA:CPU (measured at smoke shapes): the order of a parallel run.
PARALLEL_COST = {"registration": 4, "generator": 3, "estimator": 2, "data_parallel": 2, "matmul": 1,
                 "environment": 0}
# Forced host devices for the smoke data-parallel run, so it exercises a real multi-device mesh.
SMOKE_HOST_DEVICES = 2


# ------------------------------------------------------------------------------------------ shapes
def paper_settings(smoke: bool) -> dict:
    """Per-network settings: the ``:paper`` config's, shrunk to tiny shapes for ``smoke``."""
    from configs.paper import base
    from jaxau import au
    from jaxau.train import generator as train_generator, prnet as train_prnet

    config = base.base_config("paper")
    num_aus = len([a for a in str(config.data.aus).split(",") if a]) or len(au.FERA2017_AUS)
    est = dict(config.estimator)
    est.update(image_size=int(config.data.image_size), pretrained="")
    gen = {k: v for k, v in dict(config.generator).items() if k in train_generator.DEFAULTS}
    reg = dict(config.registration)
    if smoke:
        est.update(image_size=32, width=1 / 16, batch_size=4)
        gen.update(image_size=32, g_width=4, g_blocks=1, d_width=4, d_layers=3, batch_size=2)
        reg.update(image_size=32, base_width=2, batch_size=2)
    return {"num_aus": num_aus, "estimator": est, "generator": train_generator.settings(gen),
            "registration": train_prnet.settings(reg)}


# ------------------------------------------------------------------------------------------ worker
class CountedOnly(BaseException):
    """Raised by `Worker.compile` in count-only mode once the step's FLOPs are known (a
    BaseException, so the measurements' ``except Exception`` error handling lets it through)."""

    def __init__(self, count: "jaxpr_flops.FlopCount"):
        super().__init__(count.total)
        self.count = count


class Worker:
    """One measurement inside a worker process; results are flushed to ``result_path`` as they come.

    With ``count_only`` the measurement stops at its first `compile`: the step is traced and its FLOPs
    recorded (``flops_per_step``), nothing is compiled or run (`recount`).
    """

    def __init__(self, name: str, smoke: bool, result_path: str | None, count_only: bool = False):
        self.name, self.smoke, self.result_path, self.count_only = name, smoke, result_path, count_only
        self.mode = "smoke" if smoke else "paper"
        self.result: dict = {"name": name}

    def log(self, message: str) -> None:
        """A progress line in the worker's log (where a timed-out measurement spent its time)."""
        print(f"[{time.strftime('%H:%M:%S')}] {self.name}: {message}", flush=True)
        self.result["phase"] = message
        self.flush()

    def flush(self) -> None:
        if self.result_path is None:
            return
        tmp = self.result_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.result, f, indent=1, default=_json_default)
        os.replace(tmp, self.result_path)

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def flops(stage) -> float | None:
        """XLA's FLOP count of a lowered or compiled computation (None when it has none)."""
        try:
            cost = stage.cost_analysis()
        except Exception:  # some backends do not implement it: recorded as missing, not guessed
            return None
        if isinstance(cost, (list, tuple)):
            cost = cost[0] if cost else None
        value = (cost or {}).get("flops")
        return float(value) if value is not None and value > 0 else None

    @staticmethod
    def memory_analysis(compiled) -> dict | None:
        try:
            m = compiled.memory_analysis()
        except Exception:
            return None
        if m is None:
            return None
        fields = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes",
                  "temp_size_in_bytes", "generated_code_size_in_bytes")
        return {f: int(getattr(m, f)) for f in fields if hasattr(m, f)}

    def compile(self, jitted, *args) -> tuple:
        """``(compiled, info)``: compile time, FLOPs and XLA's memory analysis of ``jitted(*args)``.

        In count-only mode: raises `CountedOnly` with the FLOPs instead.
        """
        self.log("counting FLOPs")
        count = jaxpr_flops.count(jitted, *args)
        if self.count_only:
            raise CountedOnly(count)
        t = time.perf_counter()
        self.log("tracing")
        lowered = jitted.lower(*args)
        self.log(f"compiling (traced in {time.perf_counter() - t:.1f} s)")
        compiled = lowered.compile()
        info = {"compile_s": time.perf_counter() - t}
        self.log(f"compiled in {info['compile_s']:.1f} s; timing")
        info.update(_flops_info(count))
        # XLA's counts, for reference only (the GPU backend's omits its library calls).
        info["flops_xla"] = {"compiled": self.flops(compiled), "lowered": self.flops(lowered)}
        info["xla_memory"] = self.memory_analysis(compiled)
        return compiled, info

    def time_steps(self, run_one, carry):
        """Runs ``carry = run_one(carry)`` repeatedly: one warm-up step, then ~TIMED_S seconds.

        Returns ``(carry, seconds_per_step, steps_timed)``.
        """
        import jax
        carry = jax.block_until_ready(run_one(carry))  # warm-up (autotuning, allocation)
        t = time.perf_counter()
        carry = jax.block_until_ready(run_one(carry))
        first = max(time.perf_counter() - t, 1e-9)
        n = int(min(MAX_TIMED_STEPS[self.mode], max(2, math.ceil(TIMED_S[self.mode] / first))))
        t = time.perf_counter()
        for _ in range(n):
            carry = run_one(carry)
        carry = jax.block_until_ready(carry)
        return carry, (time.perf_counter() - t) / n, n

    def memory(self) -> dict:
        """Peak memory of this process's device 0 (``memory_stats``), else the process's peak RSS."""
        import jax
        try:
            stats = jax.devices()[0].memory_stats()
        except Exception:
            stats = None
        if stats and stats.get("peak_bytes_in_use"):
            return {"peak_bytes": int(stats["peak_bytes_in_use"]), "source": "device memory_stats",
                    "bytes_limit": int(stats.get("bytes_limit", 0)) or None}
        import resource
        # ru_maxrss is in KiB on Linux.
        return {"peak_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024,
                "source": "process peak RSS"}

    # -- measurements --------------------------------------------------------------------------
    def run(self) -> None:
        kind, _, dtype = self.name.partition("/")
        self.result.update(kind=kind, dtype=dtype or None)
        self.log("initialising")
        try:
            getattr(self, f"measure_{kind}")(*([dtype] if dtype else []))
        except CountedOnly as c:
            if not self.count_only:
                raise
            self.result.update(_flops_info(c.count))
        if self.count_only:
            self.result["status"] = "counted"
            return
        self.result["memory"] = self.memory()
        self.result["status"] = "ok"
        self.log("done")

    def measure_environment(self) -> None:
        import jax
        import jaxlib
        devices = jax.devices()
        self.result.update(
            python=sys.version.split()[0], jax=jax.__version__, jaxlib=jaxlib.__version__,
            backend=jax.default_backend(), device_count=len(devices),
            device_kinds=sorted({d.device_kind for d in devices}),
            default_matmul_precision=str(jax.config.jax_default_matmul_precision),
            xla_flags=os.environ.get("XLA_FLAGS", ""), cpu_count=os.cpu_count())
        try:
            from importlib import metadata
            self.result["packages"] = {p: metadata.version(p) for p in (
                "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt", "flax",
                "optax")
                if _has_distribution(metadata, p)}
        except Exception as e:
            self.result["packages_error"] = repr(e)

    def measure_matmul(self) -> None:
        """Square matmuls: float32 (default and highest precision) and bfloat16 FLOP/s."""
        import jax
        import jax.numpy as jnp
        n = MATMUL_N[self.mode]
        self.result.update(n=n, results=[])
        for label, dtype, precision in (("float32", jnp.float32, None),
                                        ("float32/highest", jnp.float32, jax.lax.Precision.HIGHEST),
                                        ("bfloat16", jnp.bfloat16, None)):
            entry = {"variant": label}
            try:
                ka, kb = jax.random.split(jax.random.key(0))
                a = jax.random.normal(ka, (n, n), jnp.float32).astype(dtype)
                b = jax.random.normal(kb, (n, n), jnp.float32).astype(dtype)
                fn = jax.jit(lambda x, y: jnp.matmul(x, y, precision=precision))
                try:
                    compiled, info = self.compile(fn, a, b)
                except CountedOnly as c:
                    entry.update(_flops_info(c.count))
                    self.result["results"].append(entry)
                    continue
                entry.update(info)
                # Each product feeds the next one's left operand, so the steps run in order and none
                # can be skipped; values stay bounded by rescaling into the same dtype.
                scale = jnp.asarray(1.0 / math.sqrt(n), dtype)
                _, seconds, steps = self.time_steps(lambda x: compiled(x * scale, b), a)
                entry.update(seconds_per_step=seconds, steps_timed=steps,
                             flops_per_s=entry["flops_per_step"] / seconds if entry["flops_per_step"] else None)
            except Exception as e:
                entry["error"] = _error_text(e)
            self.result["results"].append(entry)
            self.flush()
        failed = [e["variant"] for e in self.result["results"] if "error" in e]
        if failed:
            raise RuntimeError(f"matmul variants failed: {failed}")
        if self.count_only:
            raise CountedOnly(jaxpr_flops.FlopCount())  # the per-variant counts are recorded

    def _mesh(self, all_devices: bool):
        import jax
        from jaxau.train import parallel
        return parallel.make_mesh(jax.devices() if all_devices else jax.devices()[:1])

    def _estimator_step(self, dtype: str, all_devices: bool = False) -> None:
        import jax
        import numpy as np
        from jaxau.models import vgg
        from jaxau.train import estimator, parallel
        s = paper_settings(self.smoke)
        cfg, num_aus = s["estimator"], s["num_aus"]
        mesh = self._mesh(all_devices)
        ndev = mesh.devices.size
        per_device = int(cfg["batch_size"])
        batch_size = per_device * ndev if all_devices else per_device
        size = int(cfg["image_size"])
        self.result.update(image_size=size, width=float(cfg["width"]), num_aus=num_aus,
                           batch_size=batch_size, devices=ndev, norm=str(cfg["norm"]),
                           freeze=str(cfg["freeze"]) or "none")
        model = estimator.model_from_config(cfg, num_aus).clone(narrow_block=NARROW_BLOCK)
        state, tx = estimator.init_state(cfg, model, seed=0)
        step = parallel.data_parallel(estimator.make_train_step(model, tx, compute_dtype=dtype), mesh)
        rng = np.random.default_rng(0)
        batch = {"image": rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8),
                 "au_intensity": rng.integers(-1, 6, (batch_size, num_aus)).astype(np.int32),
                 "target_au": np.full((batch_size,), -1, np.int32)}
        state = parallel.replicate(state, mesh)
        batch = parallel.shard_batch(batch, mesh)
        key = jax.random.key(1)
        compiled, info = self.compile(step, state, batch, key)
        self.result.update(info)
        self.result["flops_analytic"] = float(vgg.train_step_flops(size, num_aus, float(cfg["width"]),
                                                                   str(cfg["freeze"]) or None) * batch_size)
        state, metrics = compiled(state, batch, key)
        self.result["loss_first_step"] = float(metrics["loss"])
        (state, metrics), seconds, steps = self.time_steps(
            lambda c: compiled(c[0], batch, key), (state, metrics))
        self.result["loss_last_step"] = float(metrics["loss"])
        self._throughput(seconds, steps, batch_size)

    def _throughput(self, seconds: float, steps: int, images_per_step: int) -> None:
        r = self.result
        r.update(seconds_per_step=seconds, steps_timed=steps, steps_per_s=1.0 / seconds,
                 images_per_s=images_per_step / seconds)
        if r.get("flops_per_step"):
            r["flops_per_s"] = r["flops_per_step"] / seconds  # the count is global (all devices)

    def measure_estimator(self, dtype: str) -> None:
        self._estimator_step(dtype)

    def measure_data_parallel(self) -> None:
        self._estimator_step("float32", all_devices=True)

    def measure_registration(self, dtype: str) -> None:
        import jax
        import jax.numpy as jnp
        import numpy as np
        from jaxau.train import optimizers, parallel, prnet as train_prnet
        s = paper_settings(self.smoke)
        cfg = s["registration"]
        size, batch_size = int(cfg["image_size"]), int(cfg["batch_size"])
        self.result.update(image_size=size, base_width=int(cfg["base_width"]), batch_size=batch_size,
                           devices=1)
        mesh = self._mesh(False)
        # The library's init_state as the training loop calls it (PRNet's init compiled once, at
        # XLA backend level 0: `jaxau.models.prnet.init_variables`).
        state = train_prnet.init_state(cfg, seed=0)[0]
        model = train_prnet.make_model(cfg)
        tx = optimizers.make_optimizer(train_prnet.optimizer_config(cfg), state.params)
        rng = np.random.default_rng(0)
        # Full frames the size of the crop, a centred face box and a smooth position map: the step's
        # augmentation warps both; the values only need to be plausible.
        frame = size
        box = np.asarray([0.25, 0.25, 0.75, 0.75], np.float32) * frame
        yy, xx = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32),
                             indexing="ij")
        pos = np.stack([xx, yy, 0.25 * size + 0 * xx], -1)
        batch = {"image": rng.integers(0, 256, (batch_size, frame, frame, 3), dtype=np.uint8),
                 "box": np.tile(box, (batch_size, 1)),
                 "pos_map": np.tile(pos[None], (batch_size, 1, 1, 1)).astype(np.float32)}
        mean_map = np.full((size, size, 3), 0.5, np.float32)
        step = parallel.data_parallel(train_prnet.make_train_step(model, tx, cfg, mean_map,
                                                                  compute_dtype=dtype), mesh)
        state = parallel.replicate(state, mesh)
        batch = parallel.shard_batch(batch, mesh)
        key = jax.random.key(1)
        compiled, info = self.compile(step, state, batch, key)
        self.result.update(info)
        state, metrics = compiled(state, batch, key)
        self.result["loss_first_step"] = float(metrics["loss"])
        (state, metrics), seconds, steps = self.time_steps(
            lambda c: compiled(c[0], batch, key), (state, metrics))
        self.result["loss_last_step"] = float(jnp.asarray(metrics["loss"]))
        self._throughput(seconds, steps, batch_size)

    def measure_generator(self, dtype: str) -> None:
        import functools
        import jax
        import numpy as np
        from jaxau.train import gan_steps, generator as train_generator, parallel
        s = paper_settings(self.smoke)
        cfg, num_aus = s["generator"], s["num_aus"]
        size, batch_size, n_critic = int(cfg["image_size"]), int(cfg["batch_size"]), int(cfg["n_critic"])
        self.result.update(image_size=size, g_width=int(cfg["g_width"]), g_blocks=int(cfg["g_blocks"]),
                           d_width=int(cfg["d_width"]), d_layers=int(cfg["d_layers"]),
                           batch_size=batch_size, n_critic=n_critic, devices=1, parts={})
        mesh = self._mesh(False)
        g, d = train_generator.modules(cfg, num_aus)
        state = train_generator.init_state(cfg, num_aus, seed=0)
        kw = dict(generator=g, discriminator=d, weights=train_generator.loss_weights(cfg),
                  axis_name=parallel.AXIS, compute_dtype=dtype)
        rng = np.random.default_rng(0)
        batch = {"image": rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32),
                 "aus": rng.uniform(0, 1, (batch_size, num_aus)).astype(np.float32),
                 "target_aus": rng.uniform(0, 1, (batch_size, num_aus)).astype(np.float32),
                 "target_image": rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32),
                 "target_image_mask": np.ones((batch_size,), np.float32)}
        state = parallel.replicate(state, mesh)
        batch = parallel.shard_batch(batch, mesh)
        key = jax.random.key(1)
        for part, fn, loss_key in (("d_step", gan_steps.d_step, "d_loss"),
                                   ("d_g_step", gan_steps.d_g_step, "g_loss")):
            step = parallel.data_parallel(functools.partial(fn, **kw), mesh)
            try:
                compiled, info = self.compile(step, state, batch, key)
            except CountedOnly as c:
                self.result["parts"][part] = _flops_info(c.count)
                continue
            state, metrics = compiled(state, batch, key)
            info["loss_first_step"] = float(metrics[loss_key])
            (state, metrics), seconds, steps = self.time_steps(
                lambda c: compiled(c[0], batch, key), (state, metrics))
            info.update(seconds_per_step=seconds, steps_timed=steps, loss_key=loss_key)
            self.result["parts"][part] = info
            self.flush()
        dd, dg = self.result["parts"]["d_step"], self.result["parts"]["d_g_step"]
        if self.count_only:
            raise CountedOnly(_iteration_count(dd, dg, n_critic))
        # One training iteration as the loop interleaves them: n_critic - 1 critic-only steps and one
        # critic + generator step per n_critic iterations.
        seconds = ((n_critic - 1) * dd["seconds_per_step"] + dg["seconds_per_step"]) / n_critic
        self.result.update(compile_s=dd["compile_s"] + dg["compile_s"],
                           loss_first_step=dg["loss_first_step"],
                           xla_memory=dg["xla_memory"])
        self.result.update(_flops_info(_iteration_count(dd, dg, n_critic)))
        self._throughput(seconds, dd["steps_timed"] + dg["steps_timed"], batch_size)


def _flops_info(count: "jaxpr_flops.FlopCount") -> dict:
    return {"flops_per_step": count.total or None, "flops_source": "jaxpr (dot + conv)",
            "flops_dot": count.dot, "flops_conv": count.conv, "flops_while_loops": count.while_loops}


def _iteration_count(d_step: dict, d_g_step: dict, n_critic: int) -> "jaxpr_flops.FlopCount":
    """FLOPs of one generator training iteration: (n_critic - 1) critic-only steps and one critic +
    generator step per n_critic iterations."""
    def part(p):
        return jaxpr_flops.FlopCount(dot=p["flops_dot"], conv=p["flops_conv"],
                                     while_loops=p["flops_while_loops"])
    total = jaxpr_flops.FlopCount()
    total.add(part(d_step), times=(n_critic - 1) / n_critic)
    total.add(part(d_g_step), times=1 / n_critic)
    return total


def _has_distribution(metadata, name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def _json_default(x):
    try:
        import numpy as np
        if isinstance(x, np.generic):
            return x.item()
    except ImportError:
        pass
    return str(x)


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".strip()[:2000]


def worker_main(args) -> int:
    worker = Worker(args.worker, args.smoke, args.result)
    try:
        worker.run()
        return 0
    except BaseException as e:  # recorded for the orchestrator, with the traceback in the log
        traceback.print_exc()
        worker.result.update(status="error", error=_error_text(e))
        try:
            worker.result["memory"] = worker.memory()
        except Exception:
            pass
        worker.flush()
        return 1


# ------------------------------------------------------------------------------------ orchestrator
class Orchestrator:
    """Runs every measurement in its own worker process and keeps the report files current.

    On an accelerator the workers run one at a time (each gets the whole device). On a CPU (smoke
    runs, or ``--jobs``) several run at once, the costliest first: what they measure there is the
    plumbing, and their compilations dominate the wall time.
    """

    def __init__(self, args):
        self.args = args
        self.mode = "smoke" if args.smoke else "paper"
        self.jobs = max(1, args.jobs if args.jobs else (os.cpu_count() or 1) if args.smoke else 1)
        self.out = os.path.abspath(args.out)
        os.makedirs(os.path.join(self.out, "logs"), exist_ok=True)
        self.start = time.monotonic()
        self.deadline = self.start + args.time_limit
        self.running: dict[str, dict] = {}
        kinds = {n.split("/")[0] for n in MEASUREMENTS}
        unknown = sorted(set(args.only or ()) - set(MEASUREMENTS) - kinds)
        if unknown:
            raise SystemExit(f"--only: unknown measurements {unknown}; known: {list(MEASUREMENTS)}")
        names = MEASUREMENTS if not args.only else tuple(
            n for n in MEASUREMENTS if n in args.only or n.split("/")[0] in args.only)
        self.report = {
            "schema": 1, "mode": self.mode, "complete": False, "jobs": self.jobs,
            "started": _now(), "finished": None, "time_limit_s": args.time_limit,
            "install": _install_info(args),
            "measurements": {n: {"status": "pending"} for n in names}, "errors": []}
        self.write()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._terminate)
        queue = list(self.report["measurements"])
        if self.jobs > 1:
            # Longest compilations first, so the parallel run ends with the short ones.
            queue.sort(key=lambda n: -PARALLEL_COST.get(n.split("/")[0], 0))
        while queue or self.running:
            while queue and len(self.running) < self.jobs:
                self.launch(queue.pop(0))
            self.poll()
            if self.running:
                time.sleep(0.1)
        self.report["complete"] = True
        self.finish()
        return 0

    def _terminate(self, signum, frame):
        # The overall time limit (timeout in device_check.sh): keep what has been measured.
        for name in list(self.running):
            self._kill(self.running.pop(name)["proc"])
        for name, entry in self.report["measurements"].items():
            if entry.get("status") in ("pending", "running"):
                part = self._read_partial(name)
                part.pop("name", None)
                entry.update(part)
                entry.update(status="error", error="stopped by the overall time limit (SIGTERM)"
                             + ("; partial results kept" if part else ""))
        self.finish()
        sys.exit(124)

    @staticmethod
    def _kill(proc) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group
            except ProcessLookupError:
                pass
        proc.wait()

    def _result_path(self, name: str) -> str:
        return os.path.join(self.out, "logs", name.replace("/", "_") + ".result.json")

    def _log_path(self, name: str) -> str:
        return os.path.join(self.out, "logs", name.replace("/", "_") + ".log")

    def _read_partial(self, name: str) -> dict:
        try:
            with open(self._result_path(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def launch(self, name: str) -> None:
        entry = self.report["measurements"][name]
        kind = name.split("/")[0]
        left = self.deadline - time.monotonic()
        if left < MIN_START_S[self.mode]:
            entry.update(status="error", error=f"skipped: {max(left, 0):.0f} s left of the "
                         f"{self.args.time_limit:.0f} s time limit")
            self.write()
            return
        timeout = min(CAPS[self.mode][kind], left)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--out", self.out,
               "--result", self._result_path(name)] + (["--smoke"] if self.args.smoke else [])
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        if kind == "data_parallel" and self.args.smoke:
            # CPU smoke run: split the host into devices so the multi-device path really runs.
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                                f" --xla_force_host_platform_device_count={SMOKE_HOST_DEVICES}").strip()
            env.setdefault("JAX_PLATFORMS", "cpu")
        try:
            os.remove(self._result_path(name))
        except FileNotFoundError:
            pass
        entry.update(status="running", timeout_s=round(timeout, 1))
        job = {"t": time.monotonic(), "timeout": timeout, "proc": None}
        try:
            with open(self._log_path(name), "w") as log:
                job["proc"] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                               env=env, start_new_session=True)
        except Exception as e:
            self.complete(name, job, None, f"could not start the worker: {_error_text(e)}")
            return
        self.running[name] = job
        self.write()

    def poll(self) -> None:
        for name, job in list(self.running.items()):
            rc = job["proc"].poll()
            if rc is None and time.monotonic() - job["t"] < job["timeout"]:
                continue
            del self.running[name]
            if rc is None:
                self._kill(job["proc"])
            self.complete(name, job, rc, None)

    def complete(self, name: str, job: dict, rc: int | None, start_error: str | None) -> None:
        entry = self.report["measurements"][name]
        kind = name.split("/")[0]
        entry["seconds"] = round(time.monotonic() - job["t"], 2)
        partial = self._read_partial(name)
        partial.pop("name", None)
        entry.update(partial)
        log_path = self._log_path(name)
        if start_error:
            entry.update(status="error", error=start_error)
        elif rc is None:
            entry.update(status="error", error=f"timed out after {job['timeout']:.0f} s (cap "
                         f"{CAPS[self.mode][kind]} s, compile included)"
                         + ("; partial results kept" if partial else ""))
        elif rc != 0 and entry.get("status") != "error":
            # Killed from outside (e.g. out of memory) before it could record its own error.
            entry.update(status="error", error=f"worker exited with status {rc}: {_log_tail(log_path)}")
        elif rc == 0 and entry.get("status") != "ok":
            entry.update(status="error", error="worker exited without a result")
        entry["log"] = os.path.relpath(log_path, self.out)
        derive(self.report)
        self.write()

    def finish(self) -> None:
        self.report["finished"] = _now()
        self.report["wall_s"] = round(time.monotonic() - self.start, 1)
        derive(self.report)
        self.write()

    def write(self) -> None:
        self.report["errors"] = [{"measurement": n, "error": e["error"]}
                                 for n, e in self.report["measurements"].items()
                                 if e.get("status") == "error" and e.get("error")]
        _write_atomic(os.path.join(self.out, JSON_NAME),
                      json.dumps(self.report, indent=1, default=_json_default, allow_nan=True) + "\n")
        _write_atomic(os.path.join(self.out, MARKDOWN_NAME), markdown(self.report))


def _install_info(args) -> dict:
    info = {"status": args.install_status or "not run (--smoke or a given interpreter)",
            "python": sys.executable}
    if args.install_seconds is not None:
        info["seconds"] = args.install_seconds
    if args.install_log:
        info["log"] = args.install_log
    return info


def _log_tail(path: str, lines: int = 3) -> str:
    try:
        with open(path) as f:
            tail = [l.rstrip() for l in f.readlines() if l.strip()][-lines:]
        return " | ".join(tail)[-600:]
    except OSError:
        return "(no log)"


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------- recount
# Settings a recount must find unchanged for the report's times to belong to the traced steps.
SHAPE_KEYS = ("n", "image_size", "batch_size", "width", "num_aus", "base_width", "g_width", "g_blocks",
              "d_width", "d_layers", "n_critic", "devices")


def _xla_counts(entry: dict) -> dict:
    """XLA's counts of an entry, whichever schema wrote it (older reports used them as the count)."""
    if "flops_xla" in entry:
        return entry["flops_xla"]
    old = entry.get("flops_per_step") if entry.get("flops_source") == "compiled" else None
    return {"compiled": old, "lowered": entry.get("flops_lowered")}


def _apply_count(entry: dict, counted: dict) -> None:
    xla = _xla_counts(entry)
    for key in ("flops_lowered", "flops_per_s", "mfu_nominal", "mfu_measured_matmul"):
        entry.pop(key, None)
    entry.update({k: counted[k] for k in ("flops_per_step", "flops_source", "flops_dot", "flops_conv",
                                          "flops_while_loops")})
    entry["flops_xla"] = xla
    if entry.get("flops_per_step") and entry.get("seconds_per_step"):
        entry["flops_per_s"] = entry["flops_per_step"] / entry["seconds_per_step"]


def recount(old: dict, source: str) -> dict:
    """``old`` (a device_check.json) with this version's FLOPs and everything derived from them.

    Every finished step measurement is rebuilt at its recorded shapes and traced (`Worker` in
    count-only mode); the measured times are kept. A measurement whose shapes the current config no
    longer produces, or whose device count differs from this machine's, gets ``recount_error``
    instead and keeps its old numbers.
    """
    import copy
    import jax
    report = copy.deepcopy(old)
    smoke = report.get("mode") == "smoke"
    for name, entry in report["measurements"].items():
        if name == "environment" or entry.get("status") != "ok":
            continue
        worker = Worker(name, smoke, None, count_only=True)
        try:
            if name == "data_parallel" and entry.get("devices") != jax.device_count():
                raise RuntimeError(f"recorded on {entry.get('devices')} devices, this process has "
                                   f"{jax.device_count()} (on a CPU: XLA_FLAGS=--xla_force_host_platform_"
                                   f"device_count={entry.get('devices')})")
            worker.run()
            counted = worker.result
            changed = [k for k in SHAPE_KEYS if k in entry and k in counted and entry[k] != counted[k]]
            if changed:
                raise RuntimeError("the current config builds other shapes: " + ", ".join(
                    f"{k} {entry[k]} -> {counted[k]}" for k in changed))
        except Exception as e:
            entry["recount_error"] = _error_text(e)
            continue
        if name == "matmul":
            by_variant = {e["variant"]: e for e in counted["results"]}
            for e in entry["results"]:
                _apply_count(e, by_variant[e["variant"]])
            continue
        for part, counted_part in counted.get("parts", {}).items():
            _apply_count(entry["parts"][part], counted_part)
        _apply_count(entry, counted)
    report["recount"] = {"from": source, "at": _now(), "jax": jax.__version__,
                         "backend": jax.default_backend()}
    derive(report)
    return report


# ------------------------------------------------------------------------------------ derived data
def nominal_peaks(device_kinds) -> dict | None:
    for kind in device_kinds or ():
        for key, peaks in NOMINAL_PEAKS.items():
            if key.lower() in str(kind).lower():
                return {"device": key, **peaks}
    return None


def derive(report: dict) -> None:
    """Adds MFU (against the nominal and the measured matmul peak) and data-parallel scaling."""
    ms = report["measurements"]
    env = ms.get("environment", {})
    nominal = nominal_peaks(env.get("device_kinds"))
    report["nominal_peaks"] = nominal
    measured = {e["variant"]: e.get("flops_per_s") for e in ms.get("matmul", {}).get("results", [])
                if e.get("flops_per_s")}
    report["measured_matmul_peaks"] = measured
    # JAX's default matmul precision on NVIDIA GPUs runs float32 matmuls and convolutions on the TF32
    # tensor cores: their nominal peak is the one float32 steps can reach.
    tf32 = (env.get("backend") == "gpu"
            and str(env.get("default_matmul_precision")) in ("None", "default", "tensorfloat32"))
    report["float32_nominal_peak"] = "tf32" if tf32 else "float32"
    for name, e in ms.items():
        dtype = "float32" if name == "data_parallel" else e.get("dtype")
        if not e.get("flops_per_s") or dtype not in DTYPES:
            continue
        devices = e.get("devices", 1) or 1
        if nominal:
            peak = nominal["tf32" if dtype == "float32" and tf32 else dtype]
            e["mfu_nominal"] = e["flops_per_s"] / (peak * devices)
        if measured.get(dtype):
            e["mfu_measured_matmul"] = e["flops_per_s"] / (measured[dtype] * devices)
    single, dp = ms.get("estimator/float32", {}), ms.get("data_parallel", {})
    if single.get("images_per_s") and dp.get("images_per_s"):
        dp["scaling_efficiency"] = dp["images_per_s"] / (single["images_per_s"] * (dp.get("devices") or 1))


def _fmt(x, scale=1.0, digits=3, pct=False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if pct:
        return f"{100 * x:.1f} %"
    v = x / scale
    return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.0f}"


def markdown(report: dict) -> str:
    """The report as markdown: setup, the matmul peaks, one row per step measurement, errors."""
    ms = report["measurements"]
    env = ms.get("environment", {})
    lines = [f"## Device check ({report['mode']} shapes{'' if report['complete'] else ', incomplete'})", ""]
    lines.append(f"- {report['started']} .. {report.get('finished') or 'running'}; wall "
                 f"{_fmt(report.get('wall_s'))} s of a {report['time_limit_s']:.0f} s limit; "
                 f"install: {report['install'].get('status')}"
                 + (f" ({report['install']['seconds']} s)" if report['install'].get('seconds') is not None else ""))
    if env.get("status") == "ok":
        lines.append(f"- JAX {env.get('jax')} (jaxlib {env.get('jaxlib')}), backend {env.get('backend')}, "
                     f"{env.get('device_count')} x {', '.join(env.get('device_kinds', []))}, "
                     f"default matmul precision {env.get('default_matmul_precision')}, "
                     f"Python {env.get('python')}, {env.get('cpu_count')} CPUs")
    nominal = report.get("nominal_peaks")
    lines.append("- Nominal peaks (NVIDIA datasheet, dense): " + (
        f"{nominal['device']} FP32 {nominal['float32'] / 1e12:.0f}, TF32 {nominal['tf32'] / 1e12:.1f}, "
        f"BF16 {nominal['bfloat16'] / 1e12:.1f} TFLOP/s" if nominal else "none for this device (MFU only "
        "against the measured matmul peak)"))
    if report.get("recount"):
        rc = report["recount"]
        lines.append(f"- FLOPs recounted from the steps' jaxprs {rc['at']} (JAX {rc['jax']}, {rc['backend']}); "
                     f"times as measured")
    mm = ms.get("matmul", {})
    if mm.get("results"):
        lines += ["", f"| matmul {mm.get('n')}² | TFLOP/s | ms/step | compile s |", "|---|---:|---:|---:|"]
        for e in mm["results"]:
            lines.append(f"| {e['variant']} | {_fmt(e.get('flops_per_s'), 1e12, 4)} | "
                         f"{_fmt(e.get('seconds_per_step'), 1e-3)} | {_fmt(e.get('compile_s'))} |"
                         + (f" error: {e['error']}" if e.get("error") else ""))
    lines += ["", "| step | dtype | batch | steps/s | images/s | TFLOP/step | TFLOP/s | MFU nominal | "
              "MFU matmul | peak memory GiB | compile s | loss step 1 |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in ms.items():
        if name in ("environment", "matmul") or e.get("status") != "ok":
            continue
        mem = e.get("memory") or {}
        label = name.split("/")[0] + (f" ({e.get('devices')} devices)" if name == "data_parallel" else "")
        lines.append(
            f"| {label} | {e.get('dtype') or 'float32'} | {e.get('batch_size')} | {_fmt(e.get('steps_per_s'))} | "
            f"{_fmt(e.get('images_per_s'))} | {_fmt(e.get('flops_per_step'), 1e12)} | "
            f"{_fmt(e.get('flops_per_s'), 1e12)} | {_fmt(e.get('mfu_nominal'), pct=True)} | "
            f"{_fmt(e.get('mfu_measured_matmul'), pct=True)} | "
            f"{_fmt(mem.get('peak_bytes'), 2 ** 30)}{'' if mem.get('source') == 'device memory_stats' else ' (RSS)'} | "
            f"{_fmt(e.get('compile_s'))} | {_fmt(e.get('loss_first_step'), digits=4)} |")
    dp = ms.get("data_parallel", {})
    if dp.get("scaling_efficiency") is not None:
        lines += ["", f"Data parallel over {dp.get('devices')} devices: {_fmt(dp['images_per_s'])} images/s, "
                  f"{_fmt(dp['scaling_efficiency'], pct=True)} of {dp.get('devices')} x the one-device rate."]
    lines += ["", "Generator rows: one training iteration ((n_critic - 1) critic-only steps + one critic + "
              "generator step, averaged); FLOPs: the matmul and convolution FLOPs of the step's jaxpr "
              "(benchmarks/jaxpr_flops.py; XLA's own count is in the JSON as flops_xla); float32 runs at JAX's "
              "default matmul precision, which on NVIDIA GPUs is TF32 on the tensor cores: there its nominal "
              "MFU is against the TF32 peak and its matmul MFU against the float32 matmul row (also TF32). "
              "Peak memory: the device's peak bytes in use of the measurement's "
              "own process, or its peak RSS where the device has no counter."]
    errors = report.get("errors") or []
    lines += ["", "Errors: " + ("none" if not errors else "")]
    lines += [f"- `{e['measurement']}`: {e['error']}" for e in errors]
    lines += [f"- `{n}`: recount failed: {e['recount_error']}" for n, e in ms.items() if e.get("recount_error")]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="directory for device_check.json / .md and logs/")
    p.add_argument("--recount", default=None, metavar="OLD_DIR",
                   help="re-derive OLD_DIR/device_check.json's FLOPs and MFU with this version (no timing)")
    p.add_argument("--smoke", action="store_true", help="tiny shapes (CPU, CI)")
    p.add_argument("--time-limit", type=float, default=420.0,
                   help="seconds for all measurements; none starts with less than %s s left" % MIN_START_S)
    p.add_argument("--only", type=lambda s: [x for x in s.split(",") if x], default=None,
                   help="comma-separated measurements or kinds (e.g. estimator,matmul)")
    p.add_argument("--jobs", type=int, default=0,
                   help="workers at once (default: 1; with --smoke, the CPU count)")
    p.add_argument("--install-status", default=None, help=argparse.SUPPRESS)
    p.add_argument("--install-seconds", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--install-log", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.recount:
        path = args.recount
        path = os.path.join(path, JSON_NAME) if os.path.isdir(path) else path
        try:
            with open(path) as f:
                old = json.load(f)
            old["measurements"]
        except (OSError, ValueError, KeyError) as e:
            print(f"device_check: --recount {path}: not a readable device_check.json ({e})", file=sys.stderr)
            return 2
        report = recount(old, os.path.abspath(path))
        os.makedirs(args.out, exist_ok=True)
        _write_atomic(os.path.join(args.out, JSON_NAME),
                      json.dumps(report, indent=1, default=_json_default, allow_nan=True) + "\n")
        _write_atomic(os.path.join(args.out, MARKDOWN_NAME), markdown(report))
        print(markdown(report))
        return 1 if any(e.get("recount_error") for e in report["measurements"].values()) else 0
    return Orchestrator(args).run()


if __name__ == "__main__":
    sys.exit(main())
