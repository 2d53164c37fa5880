"""Trains the PRNet-style registration network on SynthFACS and reports NME per pose.

    python launch/train_registration.py --config=configs/registration/synthfacs.py --workdir=runs/reg

Resumes from ``<workdir>/checkpoints``. Writes ``metrics.json`` (landmark / dense NME per pose on the
test split, and the mean-shape baseline's) and ``preview_registration.png``; the workdir is the
model directory ``launch/register.py --config.model_dir`` takes.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxau import cli  # noqa: E402


def check_config(config):
    from jaxau import validate
    from jaxau.data import resolve

    resolve.check(config)
    if not str(config.data.name).startswith("synthfacs/"):
        raise validate.ConfigError(f"config.data.name={config.data.name!r}: registration trains on exact "
                                   "meshes, i.e. a synthfacs/* dataset.")
    for field in ("image_size", "base_width", "num_steps"):
        validate.positive_int(config, f"registration.{field}")
    validate.divisible_batch(config, "registration.batch_size")
    validate.positive_float(config, "registration.learning_rate")
    if config.registration.image_size % 32:
        raise validate.ConfigError(f"config.registration.image_size={config.registration.image_size} must be "
                                   "a multiple of 32 (PRNet downsamples five times): use 64, 128 or 256.")


def main(config, workdir):
    check_config(config)
    from jaxau.data import resolve
    from jaxau.stages import registration as stage

    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    # The stage finds the dataset at config.data.data_dir, else at <data stage dir>/tfds.
    summary = stage.run(config, workdir, {"data": os.path.dirname(directory)})
    print(summary, flush=True)
    return 0


if __name__ == "__main__":
    cli.run(main)
