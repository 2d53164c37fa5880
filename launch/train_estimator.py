"""Trains the VGG16 AU-intensity estimator on an AU dataset (real frames, balanced by resampling).

    python launch/train_estimator.py --config=configs/estimator/synthfacs_real.py --workdir=runs/est
        [--config.data.name=fera2017 --config.data.data_dir=/data/tfds]

Resumes from ``<workdir>/checkpoints`` when present. The workdir becomes a model directory usable by
``launch/evaluate.py`` and ``launch/predict.py``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxau import cli  # noqa: E402


def check_config(config):
    from jaxau import validate
    from jaxau.data import resolve

    resolve.check(config)
    for field in ("image_size", "num_steps"):
        validate.positive_int(config, f"estimator.{field}")
    validate.divisible_batch(config, "estimator.batch_size")
    validate.positive_int(config, "estimator.per_level", allow_zero=True)
    validate.positive_float(config, "estimator.width")
    validate.positive_float(config, "estimator.learning_rate")
    validate.one_of(config, "estimator.readout", ("argmax", "expected"))
    validate.one_of(config, "estimator.normalization", ("none", "au0", "mean"))
    if "norm" in config.estimator:
        validate.one_of(config, "estimator.norm", ("none", "batch"))
    if config.estimator.image_size < 32:
        raise validate.ConfigError(f"config.estimator.image_size={config.estimator.image_size} must be >= 32 "
                                   "(VGG16 pools five times): pass --config.estimator.image_size=64.")
    if config.estimator.pretrained and not os.path.isfile(config.estimator.pretrained):
        raise validate.ConfigError(f"config.estimator.pretrained={config.estimator.pretrained!r}: file not "
                                   "found; pass the path of the ImageNet VGG16 weights you downloaded.")


def main(config, workdir):
    check_config(config)
    from jaxau.stages import estimator as estimator_stage

    estimator_stage.train_on_real(config, workdir)
    return 0


if __name__ == "__main__":
    cli.run(main)
