"""Trains the VGG16 AU-intensity estimator on an AU dataset (real frames, balanced by resampling).

    python launch/train_estimator.py --config=configs/estimator/synthfacs_real.py --workdir=runs/est
        [--config.data.name=fera2017 --config.data.data_dir=/data/tfds]

Resumes from ``<workdir>/checkpoints`` when present. The workdir becomes a model directory usable by
``launch/evaluate.py`` and ``launch/predict.py``.
"""

from jaxau import cli


def main(config, workdir):
    from jaxau.stages import STAGES, estimator as estimator_stage

    STAGES["estimator"].check_config(config)
    estimator_stage.train_on_real(config, workdir)
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()
