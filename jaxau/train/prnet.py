"""Training the PRNet-style registration network on SynthFACS.

Data: SynthFACS frames with their exact image-space mesh. Per frame we keep the image, the
landmark box (ground-truth face box) and the UV position map of the registration mesh
(:mod:`jaxau.align.canonical`) rendered at the network size from the exact vertices -- in *image*
pixels, so every augmentation is applied to image and target together inside the step.

Step (per device, pmap-shaped, run through `jaxau.train.parallel.data_parallel`):
  1. augmentation drawn from the step's key: crop jitter (centre shift +-``jitter_shift`` of the crop
     side, scale ``jitter_scale`` range, rotation +-``rotation_deg``), colour jitter (per-channel gain,
     brightness offset, contrast); the crop is a bilinear similarity warp of the full frame;
  2. target: the position map moved by the same similarity (x, y by the 2x3 matrix, z scaled by
     its scale, then z centred on the face's mean depth + size / 2 so it is translation-free and
     inside the sigmoid's range), divided by ``max_pos = 1.1 * size`` as in PRNet;
  3. loss: weighted squared error with the region weight mask (landmark one-rings 16, eyes / nose /
     mouth 4, face 3, rest 0), normalised by the mask's sum;
  4. gradients and BatchNorm running statistics averaged over ``'data'`` (per-device batch
     statistics in the forward pass, like unsynchronised BN). The running statistics use
     ``bn_momentum`` (PRNet's 0.999 needs thousands of steps before eval-mode outputs are usable;
     short CPU runs use 0.9): the batch statistics are recovered exactly from Flax's update with the
     module's fixed momentum and re-averaged with ``bn_momentum``.

The network predicts the *offset from the training set's mean target map* (``mean_map.npz`` in the
run directory): ``target - mean + 0.5``, so the sigmoid's neutral output is the mean shape and a
short CPU training starts at the mean-shape baseline instead of a flat map (PRNet's released
weights predict absolute maps: their mean map is zero).

Because randomness comes from ``fold_in(rng, step)`` (the loop's rule), a resumed run is identical.

A trained run directory loads back with `load_model` / `load_registrar`; its accuracy (NME) is
measured by `jaxau.evaluation.registration`.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxau import io_utils
from jaxau.align import canonical, crop as crop_lib
from jaxau.align.registrar import Registrar, crop_target
from jaxau.data import registry
from jaxau.models.prnet import BN_MOMENTUM, PRNet, DECODER, init_variables
from jaxau.train import checkpoint as checkpoint_lib, input as input_lib
from jaxau.train import loop, metrics as metrics_lib, optimizers, parallel
from jaxau.train.state import TrainState

MODEL_FILE = "registration.json"
MEAN_FILE = "mean_map.npz"
DEFAULTS = dict(image_size=64, base_width=4, batch_size=8, num_steps=200, learning_rate=1e-3,
                schedule="cosine", warmup_steps=0, jitter_shift=0.1, jitter_scale=(0.9, 1.1),
                rotation_deg=10.0, color_jitter=0.2, bn_momentum=0.9, checkpoint_every=500, log_every=20,
                max_train_frames=0, crop_scale=crop_lib.CROP_SCALE, crop_shift=crop_lib.CROP_SHIFT)


def settings(cfg: Mapping[str, Any] | None) -> dict:
    """``cfg`` (ConfigDict / dict, e.g. ``config.registration``) completed with :data:`DEFAULTS`."""
    out = dict(DEFAULTS)
    for k, v in dict(cfg or {}).items():
        out[k] = v
    if isinstance(out["jitter_scale"], str):
        out["jitter_scale"] = tuple(float(x) for x in out["jitter_scale"].replace(",", " ").split())
    out["jitter_scale"] = tuple(float(x) for x in out["jitter_scale"])
    if int(out["image_size"]) % 32:
        raise ValueError(f"registration.image_size={out['image_size']} must be a multiple of 32 (PRNet "
                         "downsamples five times): use 64, 128 or 256.")
    return out


# ---------------------------------------------------------------------------------------------
# Data.

def prepare(images: np.ndarray, vertices: np.ndarray, size: int, **extra) -> dict:
    """Training arrays from frames and their exact asset-space image vertices.

    Args:
      images: uint8 ``[N, H, W, 3]``.
      vertices: ``[N, V, 3]`` image-space vertices (full asset or registration mesh).
      size: network input / map size.
      extra: further per-frame arrays kept as they are (pose_id, subject, ...).

    Returns:
      dict with ``image``, ``box`` (landmark boxes), ``pos_map`` ``[N, S, S, 3]`` float32 (image
      pixels), ``vertices`` (registration mesh, ``[N, Vm, 3]``) and ``extra``.
    """
    m = canonical.registration_mesh()
    vertices = np.asarray(vertices, np.float32)
    if vertices.shape[-2] != m.num_vertices:
        vertices = m.from_asset(vertices)
    return {"image": np.asarray(images, np.uint8), "box": crop_lib.landmark_box(vertices[:, m.landmarks]),
            "pos_map": canonical.render_position_maps(vertices, size).astype(np.float32),
            "vertices": vertices, **{k: np.asarray(v) for k, v in extra.items()}}


def load_synthfacs(name: str, split: str, data_dir: str, size: int, max_examples: int = 0) -> dict:
    """Reads a SynthFACS split (TFDS) into :func:`prepare`'s arrays (+ pose_id, subject)."""
    builder = registry.builder(name, data_dir=data_dir)
    if "vertices" not in builder.info.features:
        raise ValueError(f"Dataset {name!r} has no 'vertices' feature: registration trains on SynthFACS "
                         "(exact meshes); set config.data.name to a synthfacs/* dataset.")
    ds = builder.as_dataset(split=split, shuffle_files=False)
    if max_examples:
        ds = ds.take(max_examples)
    m = canonical.registration_mesh()
    rows = {k: [] for k in ("image", "vertices", "pose_id", "subject")}
    # Batched reading: per-example iteration spent ~50 s of the demo's registration stage in Python.
    for ex in ds.batch(256).as_numpy_iterator():
        rows["image"].append(ex["image"])
        rows["vertices"].append(m.from_asset(ex["vertices"]))
        rows["pose_id"].append(np.asarray(ex["pose"]["id"], np.int32))
        rows["subject"].append(np.asarray([s.decode() for s in ex["subject"]]))
    if not rows["image"]:
        raise ValueError(f"Dataset {name!r} split {split!r} in {data_dir} is empty.")
    return prepare(np.concatenate(rows["image"]), np.concatenate(rows["vertices"]), size,
                   pose_id=np.concatenate(rows["pose_id"]), subject=np.concatenate(rows["subject"]))


# ---------------------------------------------------------------------------------------------
# Targets and augmentation (JAX, per example).

def augment_matrix(key, box, size: int, cfg: Mapping[str, Any]):
    """A jittered crop matrix for one landmark box (shift, scale, rotation)."""
    k1, k2, k3 = jax.random.split(key, 3)
    w, h = box[2] - box[0], box[3] - box[1]
    side = cfg["crop_scale"] * (w + h) / 2
    center = jnp.stack([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2 - cfg["crop_shift"] * h])
    center = center + jax.random.uniform(k1, (2,), minval=-1, maxval=1) * cfg["jitter_shift"] * side
    lo, hi = cfg["jitter_scale"]
    side = side * jax.random.uniform(k2, (), minval=lo, maxval=hi)
    angle = jnp.deg2rad(cfg["rotation_deg"]) * jax.random.uniform(k3, (), minval=-1, maxval=1)
    return crop_lib.crop_matrix(center, side, size, angle)


def color_jitter(key, image, strength: float):
    """Per-channel gain, brightness offset and contrast around the mean; ``image`` in [0, 1]."""
    k1, k2, k3 = jax.random.split(key, 3)
    gain = 1 + strength * jax.random.uniform(k1, (3,), minval=-1, maxval=1)
    offset = 0.5 * strength * jax.random.uniform(k2, (), minval=-1, maxval=1)
    contrast = 1 + strength * jax.random.uniform(k3, (), minval=-1, maxval=1)
    mean = jnp.mean(image)
    return jnp.clip((image - mean) * contrast + mean * gain + offset, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Model, state, step.

def make_model(cfg: Mapping[str, Any]) -> PRNet:
    return PRNet(size=int(cfg["image_size"]), width=int(cfg["base_width"]), scale_output=False)


def optimizer_config(cfg: Mapping[str, Any]) -> dict:
    return {"learning_rate": float(cfg["learning_rate"]), "schedule": cfg["schedule"],
            "total_steps": int(cfg["num_steps"]), "warmup_steps": int(cfg["warmup_steps"]),
            "end_learning_rate_factor": 0.05}


def model_layers() -> list:
    """PRNet's decoder layers (transposed convs), for naming the last one."""
    return list(DECODER) + [None] * 3


def init_state(cfg: Mapping[str, Any], seed: int) -> tuple[TrainState, optax.GradientTransformation, PRNet]:
    model = make_model(cfg)
    size = int(cfg["image_size"])
    variables = init_variables(model, jax.random.key(seed))
    # Start at the mean shape: the last BN's scale at 0.1 (not 0, which would block the gradients
    # of every earlier layer on step 1) keeps the first outputs near sigmoid(0) = 0.5, i.e. the mean
    # target map (see the module docstring), instead of a random map far from any face.
    params = jax.tree_util.tree_map(lambda x: x, variables["params"])
    last = f"Conv2d_transpose_{len(model_layers()) - 1}"
    params[last]["BatchNorm"]["scale"] = 0.1 * jnp.ones_like(params[last]["BatchNorm"]["scale"])
    variables = {"params": params, "batch_stats": variables["batch_stats"]}
    tx = optimizers.make_optimizer(optimizer_config(cfg), variables["params"])
    return TrainState.create(variables["params"], tx, {"batch_stats": variables["batch_stats"]}), tx, model


def mean_target(train_data: Mapping[str, np.ndarray], cfg: Mapping[str, Any]) -> np.ndarray:
    """Mean normalised crop-space target map ``[S, S, 3]`` over the training frames (unjittered)."""
    cfg = settings(cfg)
    size = int(cfg["image_size"])
    mats = crop_lib.box_crop_matrix(train_data["box"], size, cfg["crop_scale"], cfg["crop_shift"])
    fn = jax.jit(jax.vmap(lambda p, m: crop_target(p, m, size)))
    total = np.zeros((size, size, 3), np.float64)
    for lo in range(0, len(mats), 64):
        total += np.asarray(fn(train_data["pos_map"][lo:lo + 64], mats[lo:lo + 64])).sum(0)
    return (total / len(mats) / (1.1 * size)).astype(np.float32)


def rescale_momentum(old, new, momentum: float):
    """Running statistics with ``momentum`` instead of the module's fixed ``BN_MOMENTUM``.

    Flax computes ``new = m0 * old + (1 - m0) * batch``; we recover ``batch`` and return
    ``momentum * old + (1 - momentum) * batch``.
    """
    if momentum == BN_MOMENTUM:
        return new

    def one(o, n):
        batch = (n - BN_MOMENTUM * o) / (1.0 - BN_MOMENTUM)
        return momentum * o + (1.0 - momentum) * batch

    return jax.tree.map(one, old, new)


def make_train_step(model: PRNet, tx: optax.GradientTransformation, cfg: Mapping[str, Any],
                    mean_map: np.ndarray, compute_dtype: Any = None) -> Callable:
    """The per-device training step (see the module docstring).

    ``compute_dtype``: None (the model's own dtype, float32 by default) or e.g. 'bfloat16' for mixed
    precision: the network's activations and convolutions in bfloat16; augmentation, parameters,
    BatchNorm statistics, the predicted map and the loss stay float32.
    """
    if compute_dtype is not None:
        model = model.clone(dtype=jnp.dtype(compute_dtype))
    size = int(cfg["image_size"])
    offset = jnp.asarray(mean_map) - 0.5
    weights = jnp.asarray(canonical.weight_mask(size))
    aug = {k: cfg[k] for k in ("crop_scale", "crop_shift", "jitter_shift", "jitter_scale", "rotation_deg")}
    strength = float(cfg["color_jitter"])
    bn_momentum = float(cfg["bn_momentum"])

    def prepare_batch(batch, rng):
        n = batch["image"].shape[0]
        keys = jax.random.split(parallel.per_device_rng(rng), 2 * n).reshape(n, 2)
        mats = jax.vmap(lambda k, b: augment_matrix(k, b, size, aug))(keys[:, 0], batch["box"])
        images = jax.vmap(lambda im, mm: crop_lib.warp_affine(im, mm, size))(batch["image"], mats) / 255.0
        if strength > 0:
            images = jax.vmap(lambda k, im: color_jitter(k, im, strength))(keys[:, 1], images)
        targets = jax.vmap(lambda p, mm: crop_target(p, mm, size))(batch["pos_map"], mats)
        return images, targets / model.max_pos - offset

    def step(state: TrainState, batch, rng):
        images, targets = prepare_batch(batch, rng)

        def loss_fn(params):
            pred, updates = model.apply({"params": params, **state.model_state}, images, train=True,
                                        mutable=["batch_stats"])
            err = jnp.sum((pred - targets) ** 2, -1)
            loss = jnp.mean(jnp.sum(err * weights, (1, 2)) / jnp.sum(weights))
            return loss, (pred, updates)

        (loss, (pred, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = jax.lax.pmean(grads, parallel.AXIS)
        model_state = jax.lax.pmean(rescale_momentum(state.model_state, dict(updates), bn_momentum),
                                    parallel.AXIS)
        # Mean landmark-texel error in crop pixels: an interpretable training curve.
        lm = (weights == 16.0).astype(jnp.float32)
        px = jnp.sqrt(jnp.sum((pred[..., :2] - targets[..., :2]) ** 2, -1)) * model.max_pos
        metrics = jax.lax.pmean({"loss": loss, "landmark_px": jnp.sum(px * lm) / (jnp.sum(lm) * px.shape[0])},
                                parallel.AXIS)
        return state.apply_gradients(grads, tx, model_state=model_state), metrics

    return step


# ---------------------------------------------------------------------------------------------
# Training and loading.

def train(cfg: Mapping[str, Any], workdir: str, train_data: Mapping[str, np.ndarray], *, seed: int = 0,
          eval_fn: Callable | None = None, eval_every: int = 0, name: str = "registration") -> loop.LoopResult:
    """Trains (or resumes) the registration network in ``workdir``.

    Args:
      cfg: registration settings (:data:`DEFAULTS` fill missing fields).
      workdir: run directory (``registration.json``, checkpoints, logs).
      train_data: :func:`prepare` output (image, box, pos_map at ``cfg['image_size']``).
      seed: init and data-order seed.
      eval_fn, eval_every: passed to the loop (``eval_fn(state, step) -> scalars``).
    """
    cfg = settings(cfg)
    size = int(cfg["image_size"])
    if train_data["pos_map"].shape[1:3] != (size, size):
        raise ValueError(f"train_data pos_map is {train_data['pos_map'].shape[1:3]}, image_size is {size}: "
                         "prepare() the data at the network size.")
    io_utils.write_json(os.path.join(workdir, MODEL_FILE), {"config": _plain(cfg), "seed": seed})
    mesh = parallel.make_mesh()
    state, tx, model = init_state(cfg, seed)
    if jax.process_index() == 0:
        logging.info("%s", metrics_lib.parameter_summary(state.params, "PRNet registration"))
    state = parallel.replicate(state, mesh)
    batch = int(cfg["batch_size"])
    source = input_lib.ArraySource({k: train_data[k] for k in ("image", "box", "pos_map")})
    sampler = input_lib.StepSampler(np.arange(len(source)), batch, seed=seed,
                                    process_index=jax.process_index(), process_count=jax.process_count())

    def batches(start):
        return input_lib.make_dataset(source, sampler, start, int(cfg["num_steps"])).as_numpy_iterator()

    mean_map = mean_target(train_data, cfg)
    io_utils.savez(os.path.join(workdir, MEAN_FILE), mean_map=mean_map)
    step_fn = parallel.data_parallel(make_train_step(model, tx, cfg, mean_map), mesh)
    return loop.train(workdir=workdir, state=state, step_fn=step_fn, batches=batches, mesh=mesh,
                      num_steps=int(cfg["num_steps"]), global_batch_size=batch, rng=jax.random.key(seed + 1),
                      checkpoint_every=int(cfg["checkpoint_every"]), log_every=int(cfg["log_every"]),
                      eval_fn=eval_fn, eval_every=eval_every, name=name)


def _plain(cfg: Mapping[str, Any]) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


def load_model(model_dir: str) -> tuple[PRNet, dict, dict, int]:
    """``(model, variables, settings, step)`` of a trained run directory (the latest checkpoint).

    ``settings['mean_map']`` holds the mean target map the network's output is added to.
    """
    def target(meta):
        cfg = settings(meta["config"])
        model = make_model(cfg)
        size = int(cfg["image_size"])
        abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)),
                                                     train=False))
        tx = optimizers.make_optimizer(optimizer_config(cfg), abstract["params"])
        return jax.eval_shape(lambda v: TrainState.create(v["params"], tx, {"batch_stats": v["batch_stats"]}),
                              abstract)

    meta, state, step = checkpoint_lib.load_run(
        model_dir, MODEL_FILE, target, what="the registration model",
        written_by="launch/train_registration.py or the pipeline's 'registration' stage")
    cfg = settings(meta["config"])
    model = make_model(cfg)
    variables = {"params": state.params, **state.model_state}
    with np.load(os.path.join(model_dir, MEAN_FILE)) as z:
        cfg["mean_map"] = z["mean_map"]
    return model, jax.device_get(variables), cfg, step


def load_registrar(model_dir: str, batch_size: int = 16) -> Registrar:
    """A :class:`jaxau.align.registrar.Registrar` for the trained run directory ``model_dir``."""
    model, variables, cfg, _ = load_model(model_dir)
    return Registrar(model=model, variables=variables, settings=cfg, batch_size=batch_size)
