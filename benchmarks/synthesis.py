"""Synthesis throughput and the idiosyncratic-loss ablation by Fréchet distance (estimator features).

Throughput (default): images/s of `jaxau.synthesis.synthesize` (jit-compiled batches, uint8 out) for
a generator of the given size with random weights (speed does not depend on the weights), after one
warm-up call; GFLOP/s from XLA's cost analysis of the batch function vs the ~277 GFLOP/s peak::

    python benchmarks/synthesis.py [--size 64 --width 16 --blocks 3 --batch 32 --reps 3]

Ablation (``--frames``): trains two generators on a frame set (``lambda_ids`` 1 and 0; same seed,
data order, steps), synthesizes a balanced set from each and reports the Fréchet distance between
synthetic and real test frames on the fc2 features of a trained estimator::

    python benchmarks/synthesis.py --frames train.npz --test_frames test.npz --estimator_dir EST \\
        --pose 4 --steps 300 --per_level 10 --workdir /tmp/ablation
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PEAK_GFLOPS = 277.0


def throughput(args) -> dict:
    import jax
    import numpy as np

    from jaxau.synthesis import synthesize
    from jaxau.train import generator as gen_train

    s = gen_train.settings(dict(image_size=args.size, g_width=args.width, g_blocks=args.blocks))
    state = gen_train.init_state(s, 12, 0)
    g, _ = gen_train.modules(s, 12)
    fn = synthesize._generate_fn(g)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch, args.size, args.size, 3), dtype=np.uint8)
    labels = rng.integers(0, 6, (args.batch, 12)).astype(np.int32)
    params = state.g.params
    t = time.perf_counter()
    jax.block_until_ready(fn(params, images, labels, labels))
    compile_s = time.perf_counter() - t
    flops = fn.lower(params, images, labels, labels).compile().cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))
    best = float("inf")
    for _ in range(args.reps):
        t = time.perf_counter()
        for _ in range(args.calls):
            out = fn(params, images, labels, labels)
        np.asarray(out)
        best = min(best, (time.perf_counter() - t) / args.calls)
    return {"size": args.size, "width": args.width, "blocks": args.blocks, "batch": args.batch,
            "devices": jax.device_count(), "compile_s": round(compile_s, 2), "ms_per_batch": round(best * 1e3, 2),
            "images_per_s": round(args.batch / best, 1), "gflops": round(flops / best / 1e9, 2),
            "fraction_of_peak": round(flops / best / 1e9 / PEAK_GFLOPS, 4)}


def ablation(args) -> dict:
    import numpy as np

    from jaxau.data import frames as frames_lib
    from jaxau.evaluation import frechet
    from jaxau.synthesis import synthesize
    from jaxau.train import generator as gen_train

    def frontal(path):
        f = frames_lib.load(path)
        return f if args.pose < 0 else frames_lib.select(f, f["pose_id"] == args.pose)

    train, test = frontal(args.frames), frontal(args.test_frames)
    feats = lambda images: frechet.estimator_features(args.estimator_dir, images)  # noqa: E731
    test_f = feats(test["image"])
    out = {"train_frames": len(train["image"]), "test_frames": len(test["image"]), "steps": args.steps,
           "real_train_vs_test": frechet.frechet_between(feats(train["image"]), test_f)}
    for ids in (1.0, 0.0):
        name = f"ids{ids:g}"
        run_dir = os.path.join(args.workdir, name)
        cfg = dict(image_size=train["image"].shape[1], g_width=args.width, g_blocks=args.blocks, d_width=args.width,
                   d_layers=5, batch_size=8, num_steps=args.steps, lambda_ids=ids, log_every=50,
                   checkpoint_every=args.steps)
        t = time.perf_counter()
        gen_train.train(cfg, run_dir, train, seed=0)
        train_s = time.perf_counter() - t
        record = synthesize.synthesize_set(run_dir, train, os.path.join(run_dir, "synthesis"),
                                           per_level=args.per_level, seed=0)
        syn = frames_lib.load(os.path.join(run_dir, "synthesis", "synthetic.npz"))
        out[name] = {"frechet_estimator_fc2": frechet.frechet_between(feats(syn["image"]), test_f),
                     "synthetic_images": len(syn["image"]), "train_s": round(train_s, 1),
                     "synthesis_images_per_s": record["images_per_second"]}
        print(name, out[name], flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--frames", default="")
    p.add_argument("--test_frames", default="")
    p.add_argument("--estimator_dir", default="")
    p.add_argument("--pose", type=int, default=-1)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--per_level", type=int, default=10)
    p.add_argument("--workdir", default="/tmp/jaxau_synthesis_ablation")
    args = p.parse_args()
    from jaxau import platform

    platform.configure_xla(fast_cpu_conv=True)
    result = ablation(args) if args.frames else throughput(args)
    print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
