"""Training and applying the VGG16 AU-intensity estimator (paper Sec. 3.3, 4.2.2).

One shared VGG16 trunk with a 6-way softmax head per AU, trained with softmax cross-entropy on every
labelled (AU, frame) pair of the batch (unknown labels, -1, are masked out). Training data are frame
sets (`jaxau.data.frames`) sampled through an index *pool*: all frames, a balanced real-data
resampling plan (`jaxau.data.balance`), or a synthetic set that is balanced by construction.

The model directory (the run's workdir) holds ``estimator.json`` (the config and AU names) next to
``checkpoints/``: it is all `load_predictor` needs, e.g. for ``launch/predict.py``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxau import batching, io_utils
from jaxau.data import frames as frames_lib
from jaxau.evaluation import metrics as eval_metrics, readout as readout_lib
from jaxau.models import vgg, vgg_import
from jaxau.train import checkpoint as checkpoint_lib, input as input_lib
from jaxau.train import loop, metrics as metrics_lib, optimizers, parallel
from jaxau.train.state import TrainState

MODEL_FILE = "estimator.json"
# Values of the ``estimator`` fields a direct library call may leave out (the pipeline's configs set
# every field: `jaxau.stages.schema`). ``width``, ``image_size``, ``batch_size``, ``num_steps`` and
# ``learning_rate`` have no default.
DEFAULTS = {"dropout": 0.5, "preprocessing": "caffe", "norm": "none", "bn_momentum": 0.9, "freeze": "",
            "schedule": "constant", "warmup_steps": 0, "pretrained": "", "flip": True, "readout": "argmax",
            "checkpoint_every": 500, "log_every": 20, "eval_every": 0}
REQUIRED = ("width", "image_size", "batch_size", "num_steps", "learning_rate")


def field(cfg: Mapping[str, Any], name: str) -> Any:
    """``cfg[name]``, or its :data:`DEFAULTS` value when a direct library call leaves it out."""
    return cfg[name] if name in cfg else DEFAULTS[name]


# Config fields that shape the checkpointed state (parameters and optimizer state).
STATE_KEYS = ("width", "norm", "image_size", "freeze", "preprocessing")


def model_from_config(cfg: Mapping[str, Any], num_aus: int) -> vgg.VGG16:
    return vgg.VGG16(num_aus=num_aus, width=float(cfg["width"]),
                     dropout_rate=float(field(cfg, "dropout")),
                     preprocessing=str(field(cfg, "preprocessing")),
                     norm=str(field(cfg, "norm")), bn_momentum=float(field(cfg, "bn_momentum")))


def optimizer_config(cfg: Mapping[str, Any]) -> dict:
    return {"learning_rate": float(cfg["learning_rate"]), "freeze": vgg.freeze_patterns(field(cfg, "freeze") or None),
            "schedule": field(cfg, "schedule"), "total_steps": int(cfg["num_steps"]),
            "warmup_steps": int(field(cfg, "warmup_steps"))}


# ``estimator.pretrained`` values that mean "no weights": '' (CPU sizes) and 'none' (a paper-size run
# that trains from scratch on purpose). 'required' (the paper-size default) is refused by the
# estimator stage's config check until a weights file is given.
NO_WEIGHTS = ("", "none")
WEIGHTS_REQUIRED = "required"


def pretrained_file(cfg: Mapping[str, Any]) -> str | None:
    """The ImageNet weights file ``cfg['pretrained']`` names, or None (train from scratch)."""
    value = str(field(cfg, "pretrained") or "")
    if value.lower() in NO_WEIGHTS:
        return None
    if value == WEIGHTS_REQUIRED:
        raise ValueError("config.estimator.pretrained='required': pass the ImageNet VGG16 weights file, or "
                         "'none' to train from scratch.")
    return value


def init_state(cfg: Mapping[str, Any], model: vgg.VGG16, seed: int) -> tuple[TrainState, optax.GradientTransformation]:
    """Fresh parameters (optionally ImageNet weights from ``cfg['pretrained']``) and the optimizer."""
    size = int(cfg["image_size"])
    # numpy draws: jit(model.init) would spend ~16 s compiling one random kernel per layer.
    variables = vgg.init_params(model, size, seed)
    params = variables["params"]
    weights = pretrained_file(cfg)
    if weights:
        params, report = vgg_import.import_imagenet(params, weights)
        if report.preprocessing != model.preprocessing:
            raise ValueError(f"{cfg['pretrained']} expects '{report.preprocessing}' preprocessing: set "
                             f"config.estimator.preprocessing={report.preprocessing}.")
        logging.info("Loaded ImageNet weights from %s: %s", cfg["pretrained"], report)
    tx = optimizers.make_optimizer(optimizer_config(cfg), params)
    # VGG16-BN's running statistics ride in model_state (empty for the plain VGG16).
    model_state = {k: v for k, v in variables.items() if k != "params"}
    return TrainState.create(params, tx, model_state), tx


def make_train_step(model: vgg.VGG16, tx: optax.GradientTransformation, compute_dtype: Any = None) -> Callable:
    """The per-device step (pmap-shaped; run it through `parallel.data_parallel`).

    Args:
      model: the estimator.
      tx: its optimizer.
      compute_dtype: None (the model's own dtype, float32 by default) or e.g. 'bfloat16' for mixed
        precision: activations, convolutions and matmuls in bfloat16, while parameters, gradients,
        optimizer state, logits and the loss stay float32. bfloat16 has float32's exponent range, so
        no loss scaling is needed.
    """
    if compute_dtype is not None:
        model = model.clone(dtype=jnp.dtype(compute_dtype))

    def step(state: TrainState, batch, rng):
        rng = parallel.per_device_rng(rng)
        labels = batch["au_intensity"]
        # An entry of a balanced plan trains only the head of the AU it was drawn for (target_au >= 0):
        # the plan balances that AU's levels, while the frame's other AUs are mostly absent and
        # would swamp every head with level 0. target_au = -1 trains every labelled head.
        target = batch["target_au"][:, None]
        own = (target < 0) | (jnp.arange(labels.shape[1])[None, :] == target)
        valid = ((labels >= 0) & own).astype(jnp.float32)
        images = batch["image"].astype(jnp.float32) / 255.0

        def loss_fn(params):
            logits, updates = model.apply({"params": params, **state.model_state}, images, train=True,
                                          rngs={"dropout": rng}, mutable=list(state.model_state))
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(labels, 0))
            loss = jnp.sum(ce * valid) / jnp.maximum(jnp.sum(valid), 1.0)
            return loss, (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = jax.lax.pmean(grads, parallel.AXIS)
        # VGG16-BN normalises with per-device batch statistics; the running ones are averaged so the
        # replicated state stays identical on every device.
        model_state = jax.lax.pmean(dict(updates), parallel.AXIS)
        correct = jnp.sum((jnp.argmax(logits, -1) == labels) * valid) / jnp.maximum(jnp.sum(valid), 1.0)
        metrics = {"loss": loss, "accuracy": correct}
        metrics = jax.lax.pmean(metrics, parallel.AXIS)
        return state.apply_gradients(grads, tx, model_state=model_state), metrics

    return step


def make_predict_fn(model: vgg.VGG16) -> Callable:
    """Jitted ``predict(params, images_uint8, model_state=None) -> logits`` (test mode).

    ``model_state`` holds the non-parameter collections (VGG16-BN's ``batch_stats``).
    """

    @jax.jit
    def predict(params, images_uint8, model_state=None):
        variables = {"params": params, **(model_state or {})}
        return model.apply(variables, images_uint8.astype(jnp.float32) / 255.0, train=False)

    return predict


def predict_logits(predict: Callable, params, images: np.ndarray, batch_size: int = 64,
                   model_state=None) -> np.ndarray:
    """Logits [N, K, 6] for uint8 images, in fixed-size batches (one compilation; the last padded)."""
    out = batching.map_padded(lambda chunk: predict(params, chunk, model_state), images, batch_size)
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def readout(logits: np.ndarray, mode: str = "argmax") -> np.ndarray:
    """Intensity from a 6-way head: 'argmax' level (paper) or 'expected' level (soft)."""
    return np.asarray(readout_lib.intensity_from_logits(logits, mode))


class PlanSource:
    """Random access to (frame, target AU) entries of a sampling plan over a frame set."""

    def __init__(self, frames: frames_lib.FrameSet, frame_index: np.ndarray, target_au: np.ndarray):
        self.frames = {"image": frames["image"], "au_intensity": frames["au_intensity"]}
        self.frame_index = np.asarray(frame_index, np.int64)
        self.target_au = np.asarray(target_au, np.int32)

    def __len__(self) -> int:
        return len(self.frame_index)

    def __getitem__(self, entries: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.frame_index[entries]
        return {"image": self.frames["image"][rows], "au_intensity": self.frames["au_intensity"][rows],
                "target_au": self.target_au[entries]}


def train(cfg: Mapping[str, Any], workdir: str, train_frames: frames_lib.FrameSet, *,
          pool: np.ndarray | None = None, pool_target_au: np.ndarray | None = None,
          val_frames: frames_lib.FrameSet | None = None, seed: int = 0,
          name: str = "estimator") -> loop.LoopResult:
    """Trains (or resumes) an estimator in ``workdir``.

    Args:
      cfg: the ``estimator`` config section (width, image_size, batch_size, num_steps,
        learning_rate, freeze, pretrained, readout, ...).
      workdir: model directory (checkpoints, logs, ``estimator.json``).
      train_frames: training frame set (images already at ``image_size``).
      pool: epoch pool of frame indices (default: every frame once), e.g. a balanced plan.
      pool_target_au: per pool entry, the AU column whose head it trains (-1: all heads); default
        the frame set's own ``target_au`` field (synthetic sets) or -1.
      val_frames: validation frames: mean ICC is logged every ``eval_every`` steps.
      seed: init and data-order seed.
    """
    frames_lib.validate(train_frames, "training frames")
    au_names = [str(a) for a in train_frames["au_names"]]
    size = int(cfg["image_size"])
    if train_frames["image"].shape[1:3] != (size, size):
        raise ValueError(f"training images are {train_frames['image'].shape[1:3]}, config.estimator."
                         f"image_size is {size}: resize when loading (frames.load_tfds(image_size=...)).")
    checkpoint_lib.write_run_record(workdir, MODEL_FILE, {"config": dict(cfg), "au_names": au_names, "seed": seed},
                                    state_keys=STATE_KEYS, what="an estimator")
    mesh = parallel.make_mesh()
    model = model_from_config(cfg, len(au_names))
    state, tx = init_state(cfg, model, seed)
    if jax.process_index() == 0:
        logging.info("%s", metrics_lib.parameter_summary(state.params, "VGG16 estimator"))
        logging.info("trainable/frozen: %s", optimizers.param_counts(
            state.params, optimizer_config(cfg)["freeze"]))
    state = parallel.replicate(state, mesh)
    batch = int(cfg["batch_size"])
    frame_index = np.arange(len(train_frames["image"])) if pool is None else np.asarray(pool)
    if pool_target_au is None:
        own = train_frames.get("target_au")
        pool_target_au = np.full(len(frame_index), -1, np.int32) if own is None else np.asarray(own)[frame_index]
    if len(pool_target_au) != len(frame_index):
        raise ValueError(f"pool_target_au has {len(pool_target_au)} entries for a pool of {len(frame_index)}.")
    source = PlanSource(train_frames, frame_index, pool_target_au)
    sampler = input_lib.StepSampler(np.arange(len(frame_index)), batch, seed=seed,
                                    process_index=jax.process_index(), process_count=jax.process_count())
    flip = bool(field(cfg, "flip"))

    def augment(b, step):
        import tensorflow as tf

        if flip:  # Bilateral AUs: a mirrored face keeps its intensity labels.
            n = tf.shape(b["image"])[0]
            seeds = tf.stack([tf.fill([n], tf.cast(step, tf.int32)), tf.range(n)], axis=1)
            b["image"] = tf.map_fn(lambda a: tf.image.stateless_random_flip_left_right(a[0], a[1]),
                                   (b["image"], seeds), fn_output_signature=tf.uint8)
        return b

    def batches(start):
        return input_lib.make_dataset(source, sampler, start, int(cfg["num_steps"]),
                                      transform=augment).as_numpy_iterator()

    eval_fn = None
    if val_frames is not None:
        predict = make_predict_fn(model)
        val = frames_lib.with_aus(val_frames, au_names)

        def eval_fn(state, step):
            params, model_state = jax.device_get((state.params, state.model_state))
            pred = readout(predict_logits(predict, params, val["image"], model_state=model_state),
                           field(cfg, "readout"))
            scores = eval_metrics.evaluate(val["au_intensity"], pred, au_names)
            return {"icc_mean": scores.mean["icc"], "mae_mean": scores.mean["mae"],
                    **{f"icc_{a}": v for a, v in zip(au_names, scores.icc)}}

    return loop.train(workdir=workdir, state=state, step_fn=parallel.data_parallel(make_train_step(model, tx), mesh),
                      batches=batches, mesh=mesh, num_steps=int(cfg["num_steps"]), global_batch_size=batch,
                      rng=jax.random.key(seed + 1), checkpoint_every=int(field(cfg, "checkpoint_every")),
                      log_every=int(field(cfg, "log_every")), eval_fn=eval_fn,
                      eval_every=int(field(cfg, "eval_every")), name=name)


class Predictor:
    """A trained estimator loaded from its model directory: ``logits`` / ``intensities`` of uint8 images.

    ``step`` loads that kept checkpoint instead of the latest (`jaxau.train.convergence`).
    """

    def __init__(self, model_dir: str, batch_size: int = 32, step: int | None = None):
        def target(meta):
            config = meta["config"]
            model = model_from_config(config, len(meta["au_names"]))
            size = int(config["image_size"])
            variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3)))
            abstract = variables["params"]
            tx = optimizers.make_optimizer(optimizer_config(config), abstract)
            abstract_state = {k: v for k, v in variables.items() if k != "params"}
            return jax.eval_shape(lambda p, m: TrainState.create(p, tx, m), abstract, abstract_state)

        meta, restored, step = checkpoint_lib.load_run(
            model_dir, MODEL_FILE, target, what="the estimator",
            written_by="launch/train_estimator.py (or the pipeline's estimator stage)", step=step)
        self.config = meta["config"]
        self.au_names = tuple(meta["au_names"])
        self.image_size = int(self.config["image_size"])
        self.batch_size = batch_size
        self.model = model_from_config(self.config, len(self.au_names))
        self.params = restored.params
        self.model_state = restored.model_state  # VGG16-BN running statistics; {} otherwise.
        self.step = step
        self._predict = make_predict_fn(self.model)

    @property
    def variables(self) -> dict:
        """``{'params': ..., **model_state}``: what ``self.model.apply`` takes."""
        return {"params": self.params, **self.model_state}

    def logits(self, images: np.ndarray) -> np.ndarray:
        return predict_logits(self._predict, self.params, images, self.batch_size, self.model_state)

    def intensities(self, images: np.ndarray, mode: str | None = None) -> np.ndarray:
        return readout(self.logits(images), mode or field(self.config, "readout"))

    def intensities_of(self, images: np.ndarray, aus: Sequence[str]) -> np.ndarray:
        """`intensities` of the AUs ``aus`` only, in that order (each must be in ``au_names``)."""
        return self.intensities(images)[:, [self.au_names.index(str(a)) for a in aus]]
