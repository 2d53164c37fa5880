"""Semantic resampling (paper Sec. 4.2.2): a balanced synthetic AU set from a trained generator.

    python launch/synthesize.py --config=configs/generator/synthfacs.py --workdir=runs/synth \\
        --config.synthesis.generator_dir=runs/gen [--config.synthesis.per_level=5000]

For every AU and level 0..5, ``per_level`` source frames that do not show the AU are re-rendered with
the label vector of a real frame that has the AU at that level. Cross-domain (identities of one set,
expressions of another, e.g. MultiPIE -> FERA): ``--config.synthesis.sources=multipie_train.npz
--config.synthesis.targets=fera_train.npz``. Writes ``<workdir>/synthetic.frames`` (a frame set whose
labels are the targets), ``plan.npz``, ``synthesis.json``, ``preview_synthesis.png``; a re-run
resumes from the finished chunks in ``<workdir>/chunks``.
"""

import os

from jaxau import cli


def check_config(config):
    from jaxau import validate

    from jaxau.stages import STAGES

    if bool(config.synthesis.get("calibrate_edit_scale", False)):
        raise validate.ConfigError(
            "config.synthesis.calibrate_edit_scale=True: this launcher has no real-frame estimator to calibrate "
            "with; pass --config.synthesis.calibrate_edit_scale=False (and a fixed --config.synthesis.edit_scale) "
            "or run the pipeline (launch/reproduce.py), which calibrates with its real column's model.")
    validate.existing_dir(config, "synthesis.generator_dir", what="trained generator directory")
    STAGES["synthesis"].check_config(config)
    for field in ("sources", "targets"):
        path = config.synthesis.get(field, "")
        if path and not os.path.isfile(path):
            raise validate.ConfigError(f"config.synthesis.{field}={path!r}: file not found; pass a frame set "
                                       ".npz or '' for the default.")


def main(config, workdir):
    check_config(config)
    from jaxau.data import frames as frames_lib
    from jaxau.stages import synthesis as synthesis_stage
    from jaxau.synthesis import synthesize
    from jaxau.train import generator

    trained = generator.load_generator(config.synthesis.generator_dir)
    if config.synthesis.sources:
        sources = frames_lib.load(config.synthesis.sources)
    else:
        with config.unlocked():
            config.generator.image_size = trained.image_size
            config.generator.frames = ""
        sources = generator.load_training_frames(config, workdir)
    targets = frames_lib.load(config.synthesis.targets) if config.synthesis.targets else None
    record = synthesize.synthesize_set(config.synthesis.generator_dir, sources, workdir,
                                       per_level=int(config.synthesis.per_level), targets=targets,
                                       seed=int(config.seed), batch_size=int(config.synthesis.batch_size),
                                       chunk_size=int(config.synthesis.chunk_size),
                                       edit_scale=float(config.synthesis.get("edit_scale", 1.0)),
                                       draw=synthesis_stage.draw_mode(config),
                                       plan_kind=synthesis_stage.plan_kind(config))
    print(f"synthesis: {record['num_images']} images in {workdir}/synthetic.frames "
          f"({len(record['skipped_cells'])} empty cells skipped)", flush=True)
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()
