"""Can the GANimation critic's AU head learn AUs from registered frames? (issue #13's dead D_exp)

Trains only the critic's AU regression (the ``lambda_exp`` term of GANimation's critic loss, no
adversarial term) on a frames stage's training views and scores ``critic_icc`` on its validation
views, for a grid of settings, next to a ridge regression on 16x16 grey pixels (a floor: how much
linearly readable AU signal the frames carry). Run on a finished demo workdir::

    python benchmarks/critic_au_head.py --frames=workdir/demo/stages/register_3d-<key> \
        --steps=600 --grid=lr=1e-4,batch=8 --grid=lr=3e-4,batch=32,balanced=1

A grid entry's fields: ``lr``, ``batch``, ``balanced`` (sample frames so every AU's levels are
equally likely, as the estimator's pool), ``width`` (``d_width``), ``target`` (``unit``: level / 5 as
GANimation; ``centred``: (level - mean) / std per AU), ``seed`` (initialisation and sampling).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxau.data import balance, frames as frames_lib  # noqa: E402
from jaxau.evaluation import metrics  # noqa: E402
from jaxau.models import ganimation  # noqa: E402
from jaxau.train import generator as gen_train  # noqa: E402


def _load(frames_dir: str, split: str, poses: str, aus):
    frames = frames_lib.load(os.path.join(frames_dir, f"{split}.npz"))
    frames = frames_lib.select_poses(frames, poses, f"{split} frames")
    return frames_lib.with_aus(frames, aus) if aus else frames


def _icc(pred: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        per_au = np.atleast_1d(metrics.icc(labels, pred))
    return float(np.mean(per_au)), [round(float(v), 3) for v in per_au]


def ridge_floor(train, val, alpha: float = 10.0) -> tuple[float, list[float]]:
    """ICC of a ridge regression from 16x16 grey pixels to the levels (validation frames)."""
    import cv2

    def feats(images):
        grey = np.stack([cv2.resize(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
                         for im in images]).reshape(len(images), -1).astype(np.float64) / 255.0
        return grey

    x, xv = feats(train["image"]), feats(val["image"])
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x, xv = (x - mu) / sd, (xv - mu) / sd
    y = train["au_intensity"].astype(np.float64)
    ym = y.mean(0)
    w = np.linalg.solve(x.T @ x + alpha * len(x) * np.eye(x.shape[1]), x.T @ (y - ym))
    return _icc(xv @ w + ym, val["au_intensity"])


def train_head(train, val, *, steps: int, lr: float, batch: int, balanced: bool, width: int, target: str,
               seed: int = 0) -> dict:
    size = train["image"].shape[1]
    labels = train["au_intensity"].astype(np.float32)
    k = labels.shape[1]
    d = ganimation.Discriminator(num_aus=k, image_size=size, conv_dim=width, num_layers=5)
    params = ganimation.init_params(d, jax.random.key(seed), jnp.zeros((1, size, size, 3)))
    if target == "unit":
        scale, shift = np.full(k, 5.0, np.float32), np.zeros(k, np.float32)
    else:
        shift, scale = labels.mean(0), labels.std(0) + 1e-6
    tx = optax.adam(lr, b1=0.5, b2=0.999)   # GANimation's critic optimiser.
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, images, y):
        def loss_fn(p):
            _, aus = d.apply({"params": p}, images)
            return jnp.mean((aus - y) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    rng = np.random.default_rng(seed)
    p = balance.level_weights(train["au_intensity"]) if balanced else None
    images = gen_train.to_unit(train["image"])
    y_all = (labels - shift) / scale
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = rng.choice(len(images), batch, p=p)
        params, opt, loss = step(params, opt, images[idx], y_all[idx])
    seconds = time.perf_counter() - t0
    out = gen_train.critic_outputs(d, params, val["image"])
    mean, per_au = _icc(out * scale + shift, val["au_intensity"])
    train_mean, _ = _icc(gen_train.critic_outputs(d, params, train["image"][:512]) * scale + shift,
                         train["au_intensity"][:512])
    return {"val_icc": round(mean, 4), "val_icc_by_au": per_au, "train_icc": round(train_mean, 4),
            "last_loss": float(loss), "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True, help="a register_3d / register_2d / frames_raw stage directory")
    ap.add_argument("--poses", default="4", help="views to train and score on (data.train_poses)")
    ap.add_argument("--aus", default="AU01,AU04,AU06,AU10,AU12,AU14,AU17")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--grid", action="append", default=[],
                    help="lr=..,batch=..,balanced=0/1,width=..,target=..,seed=..")
    ap.add_argument("--out", default="", help="JSON file for the results")
    args = ap.parse_args()
    aus = args.aus.split(",")
    train, val = _load(args.frames, "train", args.poses, aus), _load(args.frames, "validation", args.poses, aus)
    print(f"{len(train['image'])} training / {len(val['image'])} validation frames, poses {args.poses}", flush=True)
    results = {"frames": args.frames, "poses": args.poses, "steps": args.steps,
               "ridge_16px": dict(zip(("val_icc", "val_icc_by_au"), ridge_floor(train, val)))}
    print("ridge 16x16 grey:", results["ridge_16px"], flush=True)
    results["runs"] = []
    for spec in args.grid or ["lr=1e-4,batch=8"]:
        opts = {"lr": 1e-4, "batch": 8, "balanced": 0, "width": 16, "target": "unit", "seed": 0}
        for item in spec.split(","):
            key, value = item.split("=")
            opts[key] = type(opts[key])(value) if not isinstance(opts[key], float) else float(value)
        rec = train_head(train, val, steps=args.steps, lr=opts["lr"], batch=opts["batch"],
                         balanced=bool(opts["balanced"]), width=opts["width"], target=opts["target"],
                         seed=opts["seed"])
        results["runs"].append({**opts, **rec})
        print(json.dumps(results["runs"][-1]), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
