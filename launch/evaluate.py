"""Evaluates a trained estimator: per-AU ICC(3,1) / PCC / MAE (Table-2 style), per pose, CSV + JSON.

    python launch/evaluate.py --config=configs/estimator/synthfacs_real.py --workdir=runs/est \
        [--model_dir=runs/est] [--split=test]

Writes ``<workdir>/eval/<split>/{metrics.json, predictions.csv, table.md}`` and prints the table.
"""

from absl import flags

from jaxau import cli

_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Estimator run directory (default: --workdir).")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate (default: config.data.test_split).")


def main(config, workdir):
    from jaxau.data import resolve

    resolve.check(config)
    from jaxau.stages import estimator as estimator_stage

    estimator_stage.evaluate(config, workdir, split=_SPLIT.value, model_dir=_MODEL_DIR.value)
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()
