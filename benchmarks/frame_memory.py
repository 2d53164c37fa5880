"""Peak memory and input throughput of frame sets read from disk vs held in memory (frame stores).

Usage::

    python benchmarks/frame_memory.py --workdir=/tmp/frame_memory [--frames=8192] [--size=64] \\
        [--train_steps=200] [--width=0.0625] [--repeats=1] [--normalization=none] [--skip=input,score,synthesis]

Writes two frame stores (`jaxau.data.frame_store`) of N and 4N frames (procedural images, never held
whole) and runs each measurement in a fresh subprocess, reporting its peak resident set (``VmHWM``
from ``/proc/self/status``):

* ``train``: estimator training (`jaxau.train.estimator.train`, VGG16 at ``--width``, batch 32) on the
  set read lazily from disk (``disk``) or loaded whole first (``memory``, what ``.npz`` sets did), and
  the images/s into the train step after a warm-up (a loop hook timestamps every step);
* ``input``: the estimator's input pipeline alone (`PlanSource` + `StepSampler` + ``tf.data``) for one
  epoch, images/s and peak RSS, for the ``pread`` reader (the default), the ``mmap`` reader and the
  in-memory set: why the store reads rows with ``preadv`` rather than a memory map;
* ``score``: the trained estimator's predictions and ICC on the whole set (what the score stage does);
* ``synthesis``: `jaxau.synthesis.synthesize.synthesize_set` (the synthesis stage's work: plan,
  generation, ``synthetic.frames``) with the N / 4N set as sources and plans of N/4 / N images, with a
  tiny generator trained once.

* ``step_ab``: one process, one compiled train step, fed in alternating segments from the on-disk and
  the in-memory set (``--segments`` rounds of ``--segment_steps`` steps): the throughput ratio with
  both paths under the same machine load, which separate runs on a shared machine are not.

Prints one JSON summary (also ``<workdir>/frame_memory.json``) with, per measurement, the RSS growth
from N to 4N (medians over ``--repeats``) and the disk / memory throughput ratio. Targets (issue #20):
training RSS +<10 % for a 4x set; on-disk throughput within 10 % of in-memory.

Measured 2026-12-04 on the 2-core CPU box while another test run used both cores (so throughput
numbers are noisy), ``--frames=8192 --repeats=2`` (64 px, 100 / 400 MB of images, VGG16 width 1/16,
200 steps of batch 32):

=========  ==========================  ==========================  =============================
measure    peak RSS N -> 4N, disk      peak RSS N -> 4N, memory    disk / memory images/s
=========  ==========================  ==========================  =============================
train      1,266 -> 1,260 MB (-0.5 %)  1,356 -> 1,664 MB (+22.8 %)  0.83 (N), 0.96 (4N); noisy
step_ab    --                          --                          0.996 (N), 1.059 (4N)
input      821 -> 826 MB (+0.5 %)      920 -> 1,211 MB (+31.5 %)   0.63 (N), 0.78 (4N)
score      367 -> 369 MB (+0.7 %)      511 -> 782 MB (+53.1 %)     1.16 (N), 0.88 (4N)
synthesis  443 -> 432 MB (-2.4 %)      528 -> 821 MB (+55.6 %)     --
=========  ==========================  ==========================  =============================

``input`` is the estimator's input pipeline alone (36-49k images/s from disk vs 46-58k in memory,
>70x what the train step consumes); its ``mmap`` reader grew 921 -> 1,211 MB (+31.5 %), like memory.
Synthesis made 2,034 / 8,190 images from the N / 4N sources.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUS = ("AU06", "AU12", "AU25")
BATCH = 32


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM), in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_set(path: str, n: int, size: int, seed: int = 0) -> str:
    """A frame store of ``n`` procedural frames (image rows made per block, never held whole)."""
    from jaxau.data import frames as frames_lib, lazy_rows

    class Procedural(lazy_rows.LazyRows):
        """Deterministic textured images: row i depends only on i."""

        shape, dtype = (n, size, size, 3), np.dtype(np.uint8)

        def _gather(self, indices):
            grid = np.arange(size * size * 3, dtype=np.int64).reshape(size, size, 3)
            return ((indices[:, None, None, None] * 7919 + grid * (indices[:, None, None, None] % 13 + 1))
                    % 251).astype(np.uint8)

    rng = np.random.default_rng(seed)
    fs = {"image": Procedural(), "au_intensity": rng.integers(0, 6, (n, len(AUS))).astype(np.int32),
          "subject": np.asarray([f"s{i % 16:02d}" for i in range(n)]), "sequence": np.full(n, "seq"),
          "frame": np.arange(n, dtype=np.int32), "pose_id": np.zeros(n, np.int32), "au_names": np.asarray(AUS)}
    return frames_lib.save(path, fs)


def _load(path: str, mode: str):
    from jaxau.data import frames as frames_lib

    frames = frames_lib.load(path, reader=mode if mode.startswith("mmap") else "pread")
    if mode == "memory":  # What an .npz frame set was: the whole image array in RAM.
        frames = dict(frames, image=np.asarray(frames["image"]))
    return frames


def _estimator_cfg(args) -> dict:
    return {"width": args.width, "image_size": args.size, "batch_size": BATCH, "num_steps": args.train_steps,
            "learning_rate": 1e-3, "norm": "none", "flip": True, "checkpoint_every": 10 ** 6,
            "log_every": 50, "eval_every": 0}


def measure_train(args) -> dict:
    from jaxau.data import frames as frames_lib
    from jaxau.train import estimator, loop

    # Personal normalisation: per gathered batch on disk, once over the whole set in memory.
    frames = frames_lib.normalized(_load(args.set, args.mode), args.normalization)
    stamps = []
    original = loop.train

    def timed(**kwargs):  # Timestamps every step: images/s into the train step.
        kwargs["hooks"] = list(kwargs.get("hooks", ())) + [lambda step, state: stamps.append(time.perf_counter())]
        return original(**kwargs)

    loop.train = timed
    estimator.train(_estimator_cfg(args), args.out, frames, seed=0)
    warm = min(args.warmup, len(stamps) - 2)
    rate = BATCH * (len(stamps) - 1 - warm) / (stamps[-1] - stamps[warm])
    return {"images_per_second": rate, "steps": len(stamps)}


def measure_step_ab(args) -> dict:
    """Images/s into one compiled train step, fed alternately from disk and from memory (ABAB...).

    Separate training runs on a shared machine differ by more than the input path does; alternating
    short segments in one process exposes both paths to the same load.
    """
    import jax

    from jaxau.train import estimator, input as input_lib, parallel

    sets = {"disk": _load(args.set, "disk"), "memory": _load(args.set, "memory")}
    cfg = _estimator_cfg(args)
    mesh = parallel.make_mesh()
    model = estimator.model_from_config(cfg, len(AUS))
    state, tx = estimator.init_state(cfg, model, 0)
    state = parallel.replicate(state, mesh)
    step_fn = parallel.data_parallel(estimator.make_train_step(model, tx), mesh)
    n = len(sets["disk"]["image"])
    sampler = input_lib.StepSampler(np.arange(n), BATCH, seed=0)
    rates = {"disk": [], "memory": []}
    start, seg = 0, args.segment_steps
    for round_ in range(args.segments + 1):
        for mode in ("disk", "memory"):
            source = estimator.PlanSource(sets[mode], np.arange(n), np.full(n, -1, np.int32))
            it = input_lib.make_dataset(source, sampler, start, start + seg).as_numpy_iterator()
            first = next(it)  # the pipeline's start-up is not the step's throughput
            state, metrics = step_fn(state, parallel.shard_batch(first, mesh), jax.random.key(start))
            jax.block_until_ready(metrics)
            t0 = time.perf_counter()
            for k, batch in enumerate(it):
                state, metrics = step_fn(state, parallel.shard_batch(batch, mesh), jax.random.key(start + k + 1))
            jax.block_until_ready(metrics)
            if round_:  # round 0 compiles and warms up
                rates[mode].append((seg - 1) * BATCH / (time.perf_counter() - t0))
            start += seg
    ratios = [d / m for d, m in zip(rates["disk"], rates["memory"])]
    return {"images_per_second": rates, "disk_over_memory": float(np.median(ratios)),
            "per_round_ratio": [round(r, 3) for r in ratios]}


def measure_input(args) -> dict:
    from jaxau.train import estimator, input as input_lib

    frames = _load(args.set, args.mode)
    n = len(frames["image"])
    source = estimator.PlanSource(frames, np.arange(n), np.full(n, -1, np.int32))
    sampler = input_lib.StepSampler(np.arange(n), BATCH, seed=0)
    steps = -(-n // BATCH)  # one epoch: every row is read once
    it = input_lib.make_dataset(source, sampler, 0, steps).as_numpy_iterator()
    for _ in range(5):
        next(it)
    t0, count = time.perf_counter(), 0
    for batch in it:
        count += len(batch["image"])
    return {"images_per_second": count / (time.perf_counter() - t0), "steps": steps}


def measure_score(args) -> dict:
    from jaxau.evaluation import metrics
    from jaxau.train import estimator

    frames = _load(args.set, args.mode)
    predictor = estimator.Predictor(args.model, batch_size=64)
    t0 = time.perf_counter()
    pred = predictor.intensities(frames["image"])
    seconds = time.perf_counter() - t0
    scores = metrics.evaluate(frames["au_intensity"], pred, list(AUS))
    return {"images_per_second": len(pred) / seconds, "icc_mean": float(scores.mean["icc"])}


GENERATOR = dict(g_width=4, g_blocks=0, d_width=4, d_layers=3, batch_size=8, num_steps=2, n_critic=1,
                 log_every=1, checkpoint_every=2, grid_every=0)


def measure_generator(args) -> dict:
    from jaxau.train import generator as gen_train

    gen_train.train(dict(GENERATOR, image_size=args.size), args.out, _load(args.set, "disk"), seed=0)
    return {}


def measure_synthesis(args) -> dict:
    from jaxau.data import frames as frames_lib
    from jaxau.synthesis import synthesize

    sources = _load(args.set, args.mode)
    per_level = max(1, len(sources["image"]) // (4 * 6 * len(AUS)))
    t0 = time.perf_counter()
    record = synthesize.synthesize_set(args.model, sources, args.out, per_level=per_level, seed=0,
                                       batch_size=32, chunk_size=512)
    synthetic = frames_lib.load(os.path.join(args.out, "synthetic.frames"))
    return {"synthetic_images": len(synthetic["image"]), "seconds": time.perf_counter() - t0,
            "images_per_second": record["images_per_second"]}


MEASURES = {"train": measure_train, "step_ab": measure_step_ab, "input": measure_input, "score": measure_score,
            "generator": measure_generator, "synthesis": measure_synthesis}


def _child(args) -> None:
    result = MEASURES[args.measure](args)
    result["peak_rss_mb"] = peak_rss_bytes() / 2 ** 20
    print("RESULT " + json.dumps(result), flush=True)


def run(measure: str, args, **extra) -> dict:
    """One measurement in a fresh interpreter (its VmHWM is that measurement's alone)."""
    cmd = [sys.executable, os.path.abspath(__file__), f"--measure={measure}", f"--size={args.size}",
           f"--width={args.width}", f"--train_steps={args.train_steps}", f"--warmup={args.warmup}",
           f"--normalization={args.normalization}", f"--segments={args.segments}",
           f"--segment_steps={args.segment_steps}"]
    cmd += [f"--{k}={v}" for k, v in extra.items()]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{measure} {extra} failed:\n{proc.stderr[-4000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"{measure:9s} {json.dumps(extra, sort_keys=True)}: {json.dumps(out)}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/frame_memory")
    parser.add_argument("--frames", type=int, default=8192, help="N (the large set has 4N)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=float, default=1 / 16)
    parser.add_argument("--train_steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20, help="train steps left out of images/s")
    parser.add_argument("--repeats", type=int, default=1, help="train runs per mode and size (medians)")
    parser.add_argument("--segments", type=int, default=4, help="disk/memory rounds of the step_ab measurement")
    parser.add_argument("--segment_steps", type=int, default=40, help="train steps per step_ab segment")
    parser.add_argument("--normalization", default="none", choices=("none", "mean", "au0"),
                        help="the estimator's personal normalisation in the train measurement")
    parser.add_argument("--skip", default="", help="comma-separated measurements to skip")
    parser.add_argument("--measure", default="", help=argparse.SUPPRESS)
    for hidden in ("set", "mode", "out", "model"):
        parser.add_argument(f"--{hidden}", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return _child(args)

    sys.path.insert(0, ROOT)
    skip = set(filter(None, args.skip.split(",")))
    os.makedirs(args.workdir, exist_ok=True)
    for stale in ("train", "generator", "synthesis"):  # a trainer would resume, not measure
        shutil.rmtree(os.path.join(args.workdir, stale), ignore_errors=True)
    sets = {}
    for label, n in (("N", args.frames), ("4N", 4 * args.frames)):
        t0 = time.perf_counter()
        sets[label] = write_set(os.path.join(args.workdir, f"set_{label}"), n, args.size)
        print(f"wrote {sets[label]} ({n} frames) in {time.perf_counter() - t0:.1f} s", flush=True)
    summary = {"frames": {"N": args.frames, "4N": 4 * args.frames}, "size": args.size, "width": args.width,
               "normalization": args.normalization,
               "train_steps": args.train_steps, "batch": BATCH, "cpus": os.cpu_count()}

    def grid(measure, modes, extra, repeats=1):
        """``{mode/label: [result per repeat]}``; repeats alternate the modes (the load of a shared
        machine drifts, and hits every mode alike)."""
        out = {}
        for rep in range(repeats):
            for mode in modes:
                for label, path in sets.items():
                    out.setdefault(f"{mode}/{label}", []).append(
                        run(measure, args, set=path, mode=mode, **extra(mode, label, rep)))
        return out

    def median(results, key, field):
        return float(np.median([r[field] for r in results[key]]))

    def growth(results, mode):
        a, b = median(results, f"{mode}/N", "peak_rss_mb"), median(results, f"{mode}/4N", "peak_rss_mb")
        return round(100 * (b / a - 1), 1)

    def ratio(results, label):
        return round(median(results, f"disk/{label}", "images_per_second")
                     / median(results, f"memory/{label}", "images_per_second"), 3)

    if "input" not in skip:
        readers = ("disk", "mmap", "mmap_release", "memory")
        r = grid("input", readers, lambda m, l, rep: {})
        summary["input"] = {"runs": r, "rss_growth_pct": {m: growth(r, m) for m in readers},
                            "disk_over_memory_throughput": {l: ratio(r, l) for l in sets}}
    model = os.path.join(args.workdir, "train", "disk_N")
    if "train" not in skip:
        r = grid("train", ("disk", "memory"),
                 lambda m, l, rep: {"out": os.path.join(args.workdir, "train", f"{m}_{l}" + (f"_{rep}" if rep else ""))},
                 repeats=args.repeats)
        summary["train"] = {"runs": r, "rss_growth_pct": {m: growth(r, m) for m in ("disk", "memory")},
                            "disk_over_memory_throughput": {l: ratio(r, l) for l in sets}}
    if "step_ab" not in skip:
        r = {label: run("step_ab", args, set=path) for label, path in sets.items()}
        summary["step_ab"] = {"runs": r, "disk_over_memory_throughput": {l: round(r[l]["disk_over_memory"], 3)
                                                                          for l in sets}}
    if "score" not in skip:
        r = grid("score", ("disk", "memory"), lambda m, l, rep: {"model": model})
        summary["score"] = {"runs": r, "rss_growth_pct": {m: growth(r, m) for m in ("disk", "memory")},
                            "disk_over_memory_throughput": {l: ratio(r, l) for l in sets}}
    if "synthesis" not in skip:
        gen = os.path.join(args.workdir, "generator")
        run("generator", args, set=sets["N"], out=gen)
        r = grid("synthesis", ("disk", "memory"),
                 lambda m, l, rep: {"model": gen, "out": os.path.join(args.workdir, "synthesis", f"{m}_{l}")})
        summary["synthesis"] = {"runs": r, "rss_growth_pct": {m: growth(r, m) for m in ("disk", "memory")}}
    with open(os.path.join(args.workdir, "frame_memory.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "runs"} if isinstance(v, dict) else v
                      for k, v in summary.items()}, indent=2))


if __name__ == "__main__":
    main()
