"""Writes SynthFACS contact sheets (AUs x levels, poses, a sequence strip) and label statistics.

  python launch/preview_synthfacs.py --config fera_small --out_dir /tmp/synthfacs_preview --seed 0
"""

import os
import sys

from absl import app, flags

# Run from a checkout without installing: make the repository root importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxau.face import preview  # noqa: E402

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


if __name__ == "__main__":
    app.run(main)
