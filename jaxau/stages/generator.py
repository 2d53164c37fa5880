"""Stage ``generator``: train GANimation (+ idiosyncratic loss) on registered training frames.

Reads ``<frames>/train.frames`` (role ``frames``: the 3D- or 2D-registered main data; with
``generator.partners='oracle'`` also role ``registration`` for 2D / 3D frames, whose network registers
the exact partner renders, `exact_partners`), its frames in the
views ``data.train_poses`` (paper Sec. 4.6: frontal); the same views of ``validation.frames`` score the
critic's AU head while it trains (``critic_icc``). Writes the generator model directory
(``generator.json``, ``checkpoints/``, logs, ``grids/``) into the stage directory,
``preview_generator.png`` (the final sources x per-AU intensity sweep) and ``metrics.json`` (the
last logged losses and ``critic_icc``, with its 95 % bootstrap interval over validation subjects,
and ``pair_changes``: per AU, the share of the training pairs whose partner changes it).
"""

from __future__ import annotations

import os
import shutil
import warnings

import jax
import numpy as np

from jaxau import io_utils, validate
from jaxau.data import frames as frames_lib
from jaxau.evaluation import bootstrap
from jaxau.stages import frames as frames_stage
from jaxau.synthesis import oracle
from jaxau.train import generator as gen_train, loop, metrics as metrics_lib


def check(config) -> None:
    """Checks the ``generator`` section, raising `jaxau.validate.ConfigError`."""
    try:
        merged = {"generator": gen_train.settings(config.generator)}
    except ValueError as e:
        raise validate.ConfigError(str(e)) from None
    for field in ("image_size", "num_steps", "g_width", "d_width", "d_layers", "n_critic"):
        validate.positive_int(merged, f"generator.{field}")
    validate.positive_int(merged, "generator.g_blocks", allow_zero=True)
    validate.positive_int(merged, "generator.critic_warmup", allow_zero=True)
    validate.positive_int(merged, "generator.d_augment_shift", allow_zero=True)
    validate.divisible_batch(merged, "generator.batch_size")
    validate.positive_float(merged, "generator.learning_rate")
    validate.positive_float(merged, "generator.d_learning_rate", allow_zero=True)
    validate.one_of(merged, "generator.critic_warmup_loss", gen_train.WARMUP_LOSSES)
    validate.one_of(merged, "generator.sampling", gen_train.SAMPLING)
    g = merged["generator"]
    if int(g["critic_warmup"]) >= int(g["num_steps"]):
        raise validate.ConfigError(
            f"config.generator.critic_warmup={g['critic_warmup']} leaves no generator update in "
            f"num_steps={g['num_steps']}: pass a larger --config.generator.num_steps.")
    if g["partners"] == "oracle" and not str(config.data.name).startswith("synthfacs/"):
        raise validate.ConfigError(
            f"config.generator.partners='oracle' renders each training pair exactly, but config.data.name="
            f"{config.data.name!r} is not SynthFACS: use partners='sequence' (or 'subject') for other datasets.")
    if g["partners"] == "oracle" and not float(g["lambda_ids"]):
        raise validate.ConfigError(
            "config.generator.partners='oracle' renders targets for the idiosyncratic loss, which "
            "lambda_ids=0 switches off: set --config.generator.lambda_ids > 0 or partners='sequence'.")
    for field in ("lambda_ids", "lambda_mask", "lambda_tv", "lambda_exp_smooth", "critic_exp_factor",
                  "critic_fake_exp", "lambda_exp_frozen"):
        validate.positive_float(merged, f"generator.{field}", allow_zero=True)
    try:
        gen_train.check_settings(g)
    except ValueError as e:
        raise validate.ConfigError(str(e)) from None
    size, layers = int(merged["generator"]["image_size"]), int(merged["generator"]["d_layers"])
    if size % 4 or size // 2 ** layers < 1:
        raise validate.ConfigError(
            f"config.generator.image_size={size} must be a multiple of 4 and at least "
            f"2**d_layers={2 ** layers}: pass e.g. --config.generator.image_size=64 "
            "--config.generator.d_layers=5.")


def generator_config(config) -> dict:
    """The ``generator`` section, checked against the registered-frame size it trains on."""
    cfg = dict(config.generator)
    size = int(config.data.image_size)
    if int(cfg.get("image_size", size)) != size:
        raise ValueError(f"config.generator.image_size={cfg['image_size']} differs from config.data."
                         f"image_size={size}, the size of the registered frames it trains on: set both "
                         "to the same value.")
    cfg["image_size"] = size
    return cfg


def _critic_interval(cfg, state, val: frames_lib.FrameSet, aus, *, seed: int) -> dict:
    """The trained critic's validation ICC with its 95 % subject-bootstrap interval.

    A dozen validation subjects leave the ICC uncertain by several hundredths: the interval says
    whether a threshold on ``critic_icc`` can be decided on these frames at all.
    """
    subjects = np.asarray(val["subject"])
    num_subjects = len(np.unique(subjects))
    if num_subjects < 2:
        return {"critic_val_subjects": num_subjects}
    _, discriminator = gen_train.modules(gen_train.settings(cfg), len(aus))
    params = jax.device_get(state.d.params)
    levels = gen_train.critic_outputs(discriminator, params, val["image"]) * gen_train.MAX_INTENSITY
    with warnings.catch_warnings():   # an AU without variance in a resample is dropped there
        warnings.simplefilter("ignore")
        c = bootstrap.column_interval(np.asarray(val["au_intensity"]), levels, subjects,
                                      [str(a) for a in aus], seed=seed)
    return {"critic_icc_ci95": [float(v) for v in c["ci95"]], "critic_val_subjects": num_subjects}


def exact_partners(config, inputs, train: frames_lib.FrameSet) -> gen_train.ExactPartners:
    """The exact idiosyncratic targets of ``generator.partners='oracle'``: every same-sequence pair
    of `gen_train.oracle_pairs` rendered as the source's request with the partner's intensities of the
    generator's AUs, registered as the ``frames`` role registered its frames (with the
    ``registration`` role's network; `jaxau.synthesis.oracle.OracleRenderer`)."""
    renderer = oracle.OracleRenderer(config, frames_stage.registration_mode(inputs["frames"]),
                                     inputs.get("registration"))
    sources, partners = gen_train.oracle_pairs(train, int(config.seed))
    rendered = renderer.oracle(train, sources, train, partners,
                               expression_aus=[str(a) for a in train["au_names"]])
    return gen_train.ExactPartners(sources, partners, rendered.image, rendered.ok)


def run(config, stage_dir: str, inputs) -> dict:


    poses = config.data.get("train_poses", "")
    aus = frames_stage.aus(config)

    def load(split):
        frames = frames_lib.load(frames_stage.split_path(inputs["frames"], split))
        return frames_lib.with_aus(frames_lib.select_poses(frames, poses, f"generator {split} frames"), aus)

    train = load("train")
    val_path = frames_stage.split_path(inputs["frames"], "validation")
    val = load("validation") if frames_lib.exists(val_path) else None
    cfg = generator_config(config)
    exact = None
    if gen_train.settings(cfg)["partners"] == "oracle":
        exact = exact_partners(config, inputs, train)
    result = gen_train.train(cfg, stage_dir, train, seed=int(config.seed), val_frames=val,
                             exact_partners=exact)
    if result.preempted:
        raise SystemExit(loop.PREEMPTED_EXIT_CODE)
    rows = metrics_lib.read_jsonl(os.path.join(stage_dir, "generator_metrics.jsonl"))
    last = {k: v for k, v in (rows[-1] if rows else {}).items() if k not in ("time",)}
    evals = metrics_lib.read_jsonl(os.path.join(stage_dir, "generator_eval_metrics.jsonl"))
    last.update({k: v for k, v in (evals[-1] if evals else {}).items() if k not in ("time", "step")})
    record = {"steps": int(result.step), "train_frames": int(len(train["image"])), **last,
              # How often the paired loss shows G each AU's edit (rare AUs: rarely, unless
              # generator.sampling='pairs').
              "pair_changes": gen_train.pair_change_shares(cfg, train, int(config.seed))}
    if val is not None:
        # critic_icc's support: an AU with a handful of positive validation frames has a noisy ICC.
        record["critic_val_frames"] = int(len(val["image"]))
        record["critic_val_positives"] = {str(a): int(n) for a, n in
                                          zip(aus, (np.asarray(val["au_intensity"]) > 0).sum(0))}
        record.update(_critic_interval(cfg, result.state, val, aus, seed=int(config.seed)))
    io_utils.write_json(os.path.join(stage_dir, "metrics.json"), record)
    grid = os.path.join(stage_dir, "grids", f"step_{int(result.step):07d}_faces.png")
    if os.path.exists(grid):
        shutil.copyfile(grid, os.path.join(stage_dir, "preview_generator.png"))
    keys = ("steps", "train_frames", "d_loss", "d_exp", "d_exp_smooth", "d_exp_fake", "g_loss", "g_exp", "g_idt",
            "g_ids", "wasserstein", "critic_icc")
    return {k: record[k] for k in keys if k in record}
