"""Trains the GANimation expression generator with the idiosyncratic loss (paper Sec. 3.2).

    python launch/train_generator.py --config=configs/generator/synthfacs.py --workdir=runs/gen
        [--config.generator.frames=<register_3d stage>/train.npz] [--config.generator.lambda_ids=0]

Data-parallel over all devices, resumable from ``<workdir>/checkpoints`` (orbax), SIGTERM-safe; logs
to TensorBoard + JSONL and writes intensity-sweep grids to ``<workdir>/grids``. The workdir is the
generator model directory ``launch/synthesize.py`` reads.
"""

import os

from jaxau import cli


def check_config(config):
    from jaxau import validate
    from jaxau.stages import STAGES

    STAGES["generator"].check_config(config)
    if str(config.generator.get("partners", "")) == "oracle":
        raise validate.ConfigError(
            "config.generator.partners='oracle' renders exact partners registered by the pipeline's "
            "registration network: train it as a stage (launch/reproduce.py, e.g. with "
            "--config.generator.partners=oracle), or pass partners='sequence' here.")
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


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()
