"""Stages ``estimator`` (train VGG16 on a column's training set) and ``score`` (test it on real frames).

Training and scoring are separate stages so one trained model is scored on several test sets
without retraining (Table 2's 3D-synthetic model is Table 4's FERA -> DISFA model). Roles
(`jaxau.stages.graph` wires them):

* ``train_real<i>``: a registration stage (``frames_raw``, ``register_2d``, ``register_3d``) whose
  ``train.frames`` frames of the views ``estimator.train_poses`` ('' = all) are balanced per AU and
  level by majority under- / minority over-sampling (``estimator.per_level``, paper Sec. 4.2.2), or
  drawn with every AU's levels about equally likely for all heads (``estimator.real_pool='levels'``);
* ``train_set<i>``: an already balanced set (``synthesis`` / ``oracle`` -> ``synthetic.frames``,
  ``augment`` -> ``train.frames``), used whole; each image trains every head with its target label
  vector, or only the head of the AU it was made for (``estimator.synthetic_heads``);
* several parts form a combined training set (paper Tables S1/S2);
* ``validation``: frames of the training registration (validation split) for the logged ICC; its
  registration is also what `launch/predict.py` redoes on new videos;
* score stage: ``model`` (an estimator stage) and ``test`` (the registration stage to score on);
  ``config.eval`` gives the test splits (``'test'`` or every split), poses and the AUs it labels
  (cross-domain test sets label fewer AUs).

The estimator stage writes the model directory and ``balance.json`` (label counts before/after the
real-data balancing); the score stage ``eval/metrics.json`` (per-AU ICC/PCC/MAE overall and per
pose) and ``eval/predictions.csv`` (`jaxau.evaluation.scoring`).

`train_on_real` and `evaluate` are the same two jobs run on ``config.data`` directly, without the
stage graph (``launch/train_estimator.py``, ``launch/evaluate.py``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ml_collections
import numpy as np

from jaxau import au as au_lib, validate
from jaxau.data import balance, frames as frames_lib, resolve
from jaxau.evaluation import scoring
from jaxau.stages import frames as frames_stage, runner as pipeline
from jaxau.train import estimator, loop


def check(config) -> None:
    """Checks the estimator's config fields, raising `jaxau.validate.ConfigError` naming the fix."""
    resolve.check(config)
    # The pipeline trains at the registered frames' size (data.image_size); launchers may set their own.
    size_field = "estimator.image_size" if "image_size" in config.estimator else "data.image_size"
    size = validate.positive_int(config, size_field)
    steps = validate.positive_int(config, "estimator.num_steps")
    if "warmup_steps" in config.estimator:
        warmup = validate.positive_int(config, "estimator.warmup_steps", allow_zero=True)
        if warmup >= steps:
            raise validate.ConfigError(f"config.estimator.warmup_steps={warmup} must be below config.estimator."
                                       f"num_steps={steps}: pass a smaller --config.estimator.warmup_steps.")
    validate.divisible_batch(config, "estimator.batch_size")
    validate.positive_int(config, "estimator.per_level", allow_zero=True)
    try:
        real_pool(config)
    except ValueError as e:
        raise validate.ConfigError(str(e)) from None
    validate.positive_float(config, "estimator.width")
    validate.positive_float(config, "estimator.learning_rate")
    validate.one_of(config, "estimator.readout", ("argmax", "expected"))
    validate.one_of(config, "estimator.normalization", ("none", "au0", "mean"))
    if "norm" in config.estimator:
        validate.one_of(config, "estimator.norm", ("none", "batch"))
    if size < 32:
        raise validate.ConfigError(f"config.{size_field}={size} must be >= 32 "
                                   f"(VGG16 pools five times): pass --config.{size_field}=64.")
    if str(config.estimator.pretrained) == estimator.WEIGHTS_REQUIRED:
        raise validate.ConfigError(
            "config.estimator.pretrained: the paper fine-tunes ImageNet VGG16 weights; pass "
            "--config.estimator.pretrained=/path/to/vgg16_weights_tf_dim_ordering_tf_kernels.h5 (the Keras "
            "file), or --config.estimator.pretrained=none to train from scratch on purpose.")
    weights = str(config.estimator.pretrained or "")
    if weights.lower() not in estimator.NO_WEIGHTS and not os.path.isfile(weights):
        raise validate.ConfigError(f"config.estimator.pretrained={config.estimator.pretrained!r}: file not "
                                   "found; pass the path of the ImageNet VGG16 weights you downloaded.")


def _estimator_cfg(config, frames_dir: str, registration_dir: str | None) -> dict:
    """The estimator section plus how its frames were made, so `launch/predict.py` can redo it."""
    cfg = dict(config.estimator)
    cfg["image_size"] = int(config.data.image_size)
    name = os.path.basename(frames_dir.rstrip("/")).rsplit("-", 1)[0]
    mode = {"register_2d": "2d", "register_3d": "3d"}.get(name, "none")
    alignment = {"mode": mode, "image_size": int(config.data.image_size)}
    if mode != "none":
        if not registration_dir:
            raise ValueError(f"the estimator's validation frames ({frames_dir}) are registered: its "
                             "'registration' input (the registration network's stage) is missing.")
        alignment["registration_dir"] = registration_dir
        alignment.update({k: dict(config[k]) for k in ("align", "align2d", "align3d")})
    cfg["alignment"] = alignment
    return cfg


def _load(config, path: str) -> frames_lib.FrameSet:
    """A frame set, personally normalised per ``config.estimator.normalization`` (Sec. 4.5)."""
    return frames_lib.normalized(frames_lib.load(path), config.estimator.normalization)


def _source_frames(sources_dir: str | None) -> frames_lib.FrameSet | None:
    """The real training frames of a synthetic set's sources (the frame stage it was resampled from)."""
    if not sources_dir:
        return None
    path = frames_stage.split_path(sources_dir, "train")
    return frames_lib.load(path) if frames_lib.exists(path) else None


def _load_balanced(config, set_dir: str, sources_dir: str | None) -> frames_lib.FrameSet:
    """An already balanced set, personally normalised with its *source subjects'* references.

    A synthetic image of subject s is normalised by s's mean / neutral face over s's real frames
    (``sources_dir``: the same references the test frames of a subject get from that subject's
    frames), not by statistics of the synthetic set, whose expression-heavy balance would shift
    every reference.
    """
    kind = config.estimator.normalization
    frames = frames_lib.load(balanced_set_path(set_dir))
    if kind == "none":
        return frames
    sources = _source_frames(sources_dir)
    if sources is None:
        logging.warning("%s has no real source frames: normalising it with its own references.", set_dir)
    return frames_lib.normalized(frames, kind, references_from=sources)


def balanced_set_path(stage_dir: str) -> str:
    """The frame set a balanced-set stage wrote (``synthetic`` or ``train``; a store or legacy .npz)."""
    for name in ("synthetic.frames", "train.frames"):
        path = os.path.join(stage_dir, name)
        if frames_lib.exists(path):
            return path
    raise FileNotFoundError(f"{stage_dir} has neither a synthetic nor a train frame set (.frames or .npz): "
                            "is it a synthesis or augment stage that finished?")


def eval_settings(config) -> dict:
    """The scoring settings (``config.eval``): test splits, poses and AUs, with their defaults."""
    ev = config.get("eval") or {}
    return {"splits": str(ev.get("splits", "test") or "test"),
            "poses": str(ev.get("poses", config.data.get("test_poses", "")) or ""),
            "aus": str(ev.get("aus", "") or config.data.aus)}


SYNTHETIC_HEADS = ("all", "target")
REAL_POOLS = ("frames", "levels")


def real_pool(config) -> str:
    """``config.estimator.real_pool``: how a real column draws its frames when ``per_level`` is 0.

    ``'frames'`` (default): every frame once per epoch, the natural label distribution;
    ``'levels'``: frames drawn by `balance.level_weighted_pool` (each AU's levels about equally
    likely), every frame still training every head. Absent in a config: ``'frames'``.
    """
    value = str(config.estimator.get("real_pool", "frames"))
    if value not in REAL_POOLS:
        raise ValueError(f"config.estimator.real_pool={value!r}: use one of {REAL_POOLS}.")
    if value == "levels" and int(config.estimator.per_level):
        raise ValueError(f"config.estimator.real_pool='levels' draws every frame for all heads, but "
                         f"per_level={config.estimator.per_level} asks for the paper's per-AU plan: "
                         "pass --config.estimator.per_level=0, or real_pool=frames.")
    return value


def real_training_pool(config, frames: frames_lib.FrameSet, record_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """A real column's epoch pool ``(frame indices, target AUs)`` (`real_pool`, ``per_level``).

    The label counts before and after are written to ``record_path`` where frames are resampled.
    """
    if real_pool(config) == "levels":
        return balance.level_weighted_pool(frames, int(config.seed), record_path)
    pool, target = balance.balanced_pool(frames, int(config.estimator.per_level), int(config.seed), record_path)
    if pool is None:  # per_level = 0: every frame once, all heads.
        pool, target = np.arange(len(frames["image"])), np.full(len(frames["image"]), -1)
    return pool, target


def synthetic_heads(config) -> str:
    """``config.estimator.synthetic_heads``: which heads a balanced (synthetic) set's image trains.

    ``'target'``: only the head of the AU its plan cell balances (the paper's per-AU estimators);
    ``'all'``: every head, with the image's full target label vector.
    """
    value = str(config.estimator.synthetic_heads)
    if value not in SYNTHETIC_HEADS:
        raise ValueError(f"config.estimator.synthetic_heads={value!r}: use one of {SYNTHETIC_HEADS}.")
    return value


def training_set(config, stage_dir: str, inputs) -> tuple[frames_lib.FrameSet, np.ndarray, np.ndarray]:
    """The column's training frames and its epoch pool ``(frames, pool, pool_target_au)``."""
    aus = frames_stage.aus(config)
    sets, pools, targets = [], [], []
    offset = 0
    parts = sorted(r for r in inputs if r.startswith("train_"))
    if not parts:
        raise ValueError("the estimator stage got no train_real<i> / train_set<i> input.")
    for role in parts:
        if role.startswith("train_real"):
            frames = frames_lib.with_aus(_load(config, frames_stage.split_path(inputs[role], "train")), aus)
            frames = frames_lib.select_poses(frames, config.estimator.get("train_poses", ""),
                                             f"estimator {role} frames", "estimator.train_poses")
            record = os.path.join(stage_dir, "balance.json" if not pools else f"balance_{role}.json")
            pool, target = real_training_pool(config, frames, record)
        else:
            sources = inputs.get("sources" + role[len("train_set"):])
            frames = frames_lib.with_aus(_load_balanced(config, inputs[role], sources), aus)
            pool = np.arange(len(frames["image"]))
            target = np.full(len(pool), -1)
            if synthetic_heads(config) == "target":
                target = frames.get("target_au", target)
        sets.append(frames)
        pools.append(np.asarray(pool) + offset)
        targets.append(np.asarray(target, np.int32))
        offset += len(frames["image"])
    return frames_lib.concatenate(sets), np.concatenate(pools), np.concatenate(targets)


def test_set(config, test_dir: str) -> frames_lib.FrameSet:
    """The test frames (every split named in ``config.eval.splits``), normalised like training."""
    splits = eval_settings(config)["splits"].split(",")
    return frames_lib.concatenate([_load(config, frames_stage.split_path(test_dir, s)) for s in splits])


def score_config(config) -> ml_collections.ConfigDict:
    """The config `score` sees: the test set's poses as ``data.test_poses``."""
    out = ml_collections.ConfigDict(config.to_dict())
    out.data.test_poses = eval_settings(config)["poses"]
    return out


def run(config, stage_dir: str, inputs) -> dict:
    """Stage ``estimator``: trains (or resumes) the model in ``stage_dir``."""
    train, pool, targets = training_set(config, stage_dir, inputs)
    val = _load(config, frames_stage.split_path(inputs["validation"], "validation"))
    result = estimator.train(_estimator_cfg(config, inputs["validation"], inputs.get("registration")), stage_dir,
                             train, pool=pool,
                             pool_target_au=targets, val_frames=val, seed=int(config.seed), name="estimator")
    if result.preempted:
        raise SystemExit(loop.PREEMPTED_EXIT_CODE)
    return {"steps": int(result.step), "train_examples": int(len(pool)),
            "train_images": int(len(train["image"]))}


def run_score(config, stage_dir: str, inputs) -> dict:
    """Stage ``score``: the model of role ``model`` on the test frames of role ``test``."""
    aus = au_lib.parse_aus(eval_settings(config)["aus"])
    record = score(score_config(config), inputs["model"], test_set(config, inputs["test"]),
                   os.path.join(stage_dir, "eval"), aus=aus)
    return {"icc_mean": record["icc"]["mean"], "mae_mean": record["mae"]["mean"],
            "test_frames": record["num_frames"]}


def score(config: Any, model_dir: str, test: frames_lib.FrameSet, out_dir: str,
          title: str | None = None, aus: Any = None) -> dict:
    """Scores the model in ``model_dir`` on a frame set; writes metrics.json, predictions.csv, table.md.

    The headline numbers use the poses in ``config.data.test_poses`` (all when empty); the per-pose
    breakdown (paper Fig. 5) always covers every pose. ``aus`` restricts scoring to the AUs a test set
    labels (default: every AU the model predicts), e.g. the 5 FERA AUs DISFA codes.
    """
    predictor = estimator.Predictor(model_dir)
    pred = predictor.intensities(test["image"])
    return scoring.score_predictions(config, test, pred, predictor.au_names, aus, predictor.step, out_dir,
                                     title)


# Standalone runs on ``config.data`` (launch/train_estimator.py, launch/evaluate.py).

def load_split(config: Any, workdir: str, split: str, pose_spec: Any = None) -> frames_lib.FrameSet:
    """A split of ``config.data`` at the estimator's size, personally normalised as configured.

    Read from a frame store under ``<workdir>/frames`` (written on first use, keyed by the dataset's
    files and the read's settings; `frames.cached_tfds`), so a split larger than memory trains.
    """
    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    aus = au_lib.parse_aus(config.data.aus)
    frames = frames_lib.cached_tfds(os.path.join(workdir, "frames"), config.data.name, split,
                                    data_dir=directory, image_size=int(config.estimator.image_size),
                                    aus=aus, pose_ids=resolve.poses(pose_spec))
    return frames_lib.normalized(frames, config.estimator.normalization)


def train_on_real(config: Any, workdir: str) -> dict:
    """Trains on ``config.data``'s training split (balanced), then evaluates on its test split."""
    train = load_split(config, workdir, config.data.train_split, config.data.get("train_poses"))
    val = load_split(config, workdir, config.data.val_split, config.data.get("test_poses"))
    pool, targets = real_training_pool(config, train, os.path.join(workdir, "balance.json"))
    result = estimator.train(config.estimator, workdir, train, pool=pool, pool_target_au=targets,
                             val_frames=val, seed=int(config.seed))
    if result.preempted:
        raise SystemExit(loop.PREEMPTED_EXIT_CODE)
    return evaluate(config, workdir)


def evaluate(config: Any, workdir: str, split: str | None = None, model_dir: str | None = None) -> dict:
    """Evaluates the model in ``model_dir`` (default ``workdir``) on ``split`` of ``config.data``."""
    split = split or config.data.test_split
    test = load_split(config, workdir, split, None)
    record = score(config, model_dir or workdir, test, os.path.join(workdir, "eval", split.replace("/", "_")),
                   title=f"ICC(3,1) on {config.data.name} {split}")
    with open(os.path.join(workdir, "eval", split.replace("/", "_"), "table.md"), encoding="utf-8") as f:
        print(f.read(), flush=True)
    return record
