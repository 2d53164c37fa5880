"""Registers an AU dataset with a trained registration model: a derived, aligned frame-set dataset.

    python launch/register.py --config=configs/registration/synthfacs.py --workdir=runs/reg3d \
        --config.model_dir=runs/reg --config.mode=3d [--config.data.name=disfa/left
        --config.data.data_dir=/data/tfds --config.align.boxes=cascade]

Writes ``<workdir>/{train,validation,test}.frames`` (`jaxau.data.frames`, at ``config.data.image_size``),
``failures.json`` (frames without a face box or with a poor registration: counted and listed, never
silently dropped) and ``preview_<mode>.png``. Work goes chunk by chunk into ``<workdir>/chunks``;
re-running resumes at the first unfinished chunk.
"""

import os

from jaxau import cli


def check_config(config):
    from jaxau import validate
    from jaxau.data import resolve

    resolve.check(config)
    validate.one_of(config, "mode", ("2d", "3d"))
    validate.existing_dir(config, "model_dir", what="registration model directory (a train_registration workdir)")
    validate.positive_int(config, "data.image_size")
    validate.positive_int(config, "align.batch_size")
    validate.positive_int(config, "align.chunk_size")
    validate.positive_float(config, "align.max_fit_error")
    boxes = str(config.align.boxes)
    if boxes not in ("auto", "ground_truth", "cascade") and not os.path.isfile(boxes):
        raise validate.ConfigError(f"config.align.boxes={boxes!r}: use auto, ground_truth, cascade or the path "
                                   "of a CSV with columns key,x0,y0,x1,y1.")


def main(config, workdir):
    check_config(config)
    from jaxau.data import resolve
    from jaxau.stages import register

    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    splits = [s for s in str(config.splits).replace(",", " ").split() if s]
    summary = register.register_dataset(config, directory, workdir, config.model_dir, config.mode, splits)
    print(summary, flush=True)
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()
