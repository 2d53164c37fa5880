"""Trains the GANimation expression generator with the idiosyncratic loss (paper Sec. 3.2).

    python launch/train_generator.py --config=configs/generator/synthfacs.py --workdir=runs/gen
        [--config.generator.frames=<register_3d stage>/train.npz] [--config.generator.lambda_ids=0]

Data-parallel over all devices, resumable from ``<workdir>/checkpoints`` (orbax), SIGTERM-safe; logs
to TensorBoard + JSONL and writes intensity-sweep grids to ``<workdir>/grids``. The workdir is the
generator model directory ``launch/synthesize.py`` reads.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxau import cli  # noqa: E402


def check_config(config):
    from jaxau import validate

    for field in ("image_size", "num_steps", "g_width", "d_width", "d_layers", "n_critic"):
        validate.positive_int(config, f"generator.{field}")
    validate.positive_int(config, "generator.g_blocks", allow_zero=True)
    validate.divisible_batch(config, "generator.batch_size")
    validate.positive_float(config, "generator.learning_rate")
    for field in ("lambda_ids", "lambda_mask", "lambda_tv"):
        validate.positive_float(config, f"generator.{field}", allow_zero=True)
    size = int(config.generator.image_size)
    if size % 4 or size // 2 ** int(config.generator.d_layers) < 1:
        raise validate.ConfigError(
            f"config.generator.image_size={size} must be a multiple of 4 and at least "
            f"2**d_layers={2 ** int(config.generator.d_layers)}: pass e.g. --config.generator.image_size=64 "
            "--config.generator.d_layers=5.")
    if config.generator.frames and not os.path.isfile(config.generator.frames):
        raise validate.ConfigError(f"config.generator.frames={config.generator.frames!r}: file not found; pass "
                                   "a frame set .npz (e.g. <register_3d stage>/train.npz) or '' for TFDS.")
    if not config.generator.frames:
        from jaxau.data import resolve

        resolve.check(config)


def main(config, workdir):
    check_config(config)
    from jaxau.train import generator

    frames = generator.load_training_frames(config, workdir)
    result = generator.train(config.generator, workdir, frames, seed=int(config.seed))
    return 143 if result.preempted else 0


if __name__ == "__main__":
    cli.run(main)
