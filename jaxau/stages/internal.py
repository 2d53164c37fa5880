"""Stage ``internal``: GANimation's critic as an AU-intensity estimator (paper Table S4, "GANimation
internal classifier D_exp").

The critic's AU head is trained (expression loss, `jaxau.train.gan_losses.expression_loss`) to
regress ``level / MAX_INTENSITY`` of every AU on real frames, so ``MAX_INTENSITY * output`` clipped
to [0, 5] is its continuous intensity estimate, scored like every other column's continuous read-out
(rounding to a level first would throw away the ordering within a level that ICC rewards). Roles:
``generator`` (a generator stage / model
directory: `jaxau.train.generator.load_critic`) and ``test`` (a registration stage whose frames are
at the critic's size; the splits, poses and AUs scored follow ``config.eval`` exactly as the
``score`` stage does). Writes ``eval/metrics.json``, ``eval/predictions.csv`` and ``eval/table.md``
in the format of `jaxau.stages.estimator.score`, so reports treat it like any estimator.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import au as au_lib, batching
from jaxau.au import NUM_LEVELS
from jaxau.data import frames as frames_lib
from jaxau.stages import estimator as estimator_stage, frames as frames_stage
from jaxau.evaluation import scoring
from jaxau.train import generator as gen_train
from jaxau.train.generator import critic_outputs
from jaxau.train.gan_losses import MAX_INTENSITY



def regression_intensities(outputs) -> np.ndarray:
    """AU regression outputs in the expression loss's units (level / MAX_INTENSITY) -> intensities.

    Continuous, clipped to [0, 5]: the head is unbounded.
    """
    scaled = np.asarray(outputs, np.float64) * MAX_INTENSITY
    if not np.all(np.isfinite(scaled)):
        raise ValueError("critic AU outputs contain NaN/inf: the generator checkpoint is broken.")
    return np.clip(scaled, 0.0, NUM_LEVELS - 1).astype(np.float32)



def run(config, stage_dir: str, inputs) -> dict:
    """The stage: the critic of ``inputs['generator']`` scored on ``inputs['test']``."""
    discriminator, params, trained = gen_train.load_critic(inputs["generator"])
    # The splits, poses and AUs the score stage reads (config.eval), but never personally normalised:
    # the critic was trained on the registered frames as they are (the generator stage).
    splits = estimator_stage.eval_settings(config)["splits"].split(",")
    test = frames_lib.concatenate([frames_lib.load(frames_stage.split_path(inputs["test"], s)) for s in splits])
    size = trained.image_size
    if test["image"].shape[1:3] != (size, size):
        raise ValueError(f"test frames in {inputs['test']} are {test['image'].shape[1:3]}, the critic in "
                         f"{inputs['generator']} takes {size} x {size}: score it on the registration stage "
                         "its generator was trained on (config.data.image_size = config.generator.image_size).")
    pred = regression_intensities(critic_outputs(discriminator, params, test["image"]))
    aus = au_lib.parse_aus(estimator_stage.eval_settings(config)["aus"])
    record = scoring.score_predictions(estimator_stage.score_config(config), test, pred, trained.au_names,
                                       aus, trained.step, os.path.join(stage_dir, "eval"))
    return {"icc_mean": record["icc"]["mean"], "mae_mean": record["mae"]["mean"],
            "test_frames": record["num_frames"]}
