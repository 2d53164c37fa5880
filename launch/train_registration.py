"""Trains the PRNet-style registration network on SynthFACS and reports NME per pose.

    python launch/train_registration.py --config=configs/registration/synthfacs.py --workdir=runs/reg

Resumes from ``<workdir>/checkpoints``. Writes ``metrics.json`` (landmark / dense NME per pose on the
test split, and the mean-shape baseline's) and ``preview_registration.png``; the workdir is the
model directory ``launch/register.py --config.model_dir`` takes.
"""

import os

from jaxau import cli


def main(config, workdir):
    from jaxau.data import resolve
    from jaxau.stages import STAGES, registration as stage

    STAGES["registration"].check_config(config)

    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    # The stage finds the dataset at config.data.data_dir, else at <data stage dir>/tfds.
    summary = stage.run(config, workdir, {"data": os.path.dirname(directory)})
    print(summary, flush=True)
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()
