"""Writes SynthFACS contact sheets (AUs x levels, poses, a sequence strip) and label statistics.

  python launch/preview_synthfacs.py --config fera_small --out_dir /tmp/synthfacs_preview --seed 0
  jaxau-preview-synthfacs --config fera_small --out_dir /tmp/synthfacs_preview
"""

from absl import flags

from jaxau import cli
from jaxau.face import preview

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", None, "Folder for the PNG sheets and the statistics.", required=True)
flags.DEFINE_string("config", "fera_small", "SynthFACS config name (fera, fera_small, disfa, ...).")
flags.DEFINE_integer("seed", 0, "Base seed of the identities and sequences.")
flags.DEFINE_integer("stat_subjects", 20, "Train subjects sampled for the label statistics.")


def main(argv):
    del argv
    paths = preview.write_preview(FLAGS.config, FLAGS.out_dir, FLAGS.seed, FLAGS.stat_subjects)
    for k, p in paths.items():
        print(f"{k}: {p}")


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run_app(main)


if __name__ == "__main__":
    run()
