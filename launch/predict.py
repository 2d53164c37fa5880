"""Batch AU inference on your videos or images: an OpenFace-style per-frame CSV.

    python launch/predict.py --model_dir=runs/est --input=video.mp4 --output=video_aus.csv
    python launch/predict.py --model_dir=runs/est --input='frames/*.png' --output=aus.csv

``--model_dir`` is a trained estimator directory (``launch/train_estimator.py`` or a pipeline
estimator stage); it records how its training frames were aligned, and the same is done here.
Unreadable frames and frames without a face are rows with ``success=0`` and are counted.
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_INPUT = flags.DEFINE_string("input", None, "A video file, an image directory, or a glob of images.")
_OUTPUT = flags.DEFINE_string("output", None, "The CSV to write.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Trained estimator directory.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Frames per jitted batch.")


def main(argv):
    del argv
    from jaxau import platform

    missing = [n for n, f in (("--input", _INPUT), ("--output", _OUTPUT), ("--model_dir", _MODEL_DIR)) if not f.value]
    if missing:
        print(f"error: {', '.join(missing)} required: see python launch/predict.py --help.", file=sys.stderr)
        sys.exit(2)
    platform.configure_xla()
    from jaxau import inference
    from jaxau.validate import ConfigError

    try:
        summary = inference.predict_to_csv(_INPUT.value, _OUTPUT.value, _MODEL_DIR.value, batch_size=_BATCH.value)
    except (FileNotFoundError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"{summary['frames']} frames: {summary['success']} with AUs, {summary['no_face']} without a face, "
          f"{summary['non_finite']} with non-finite estimates, {summary['unreadable']} unreadable ({summary['frames_per_second']:.1f} frames/s) -> {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
