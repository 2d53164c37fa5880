"""Batch AU inference on your videos or images: an OpenFace-compatible per-frame CSV.

    jaxau-predict --model_dir=runs/est --input=video.mp4 --output=video_aus.csv
    python launch/predict.py --model_dir=runs/est --input='frames/*.png' --output=aus.csv

``--model_dir`` is a trained estimator directory (``launch/train_estimator.py`` or a pipeline
estimator stage); it records how its training frames were aligned, and the same is done here. The
columns are OpenFace 2's (``frame, face_id, timestamp, confidence, success, pose_R*, x_*, y_*,
AUxx_r, AUxx_c``, ", "-separated; `jaxau.inference` lists them) plus ``input``. Unreadable frames and
frames without a face are rows with ``success=0`` and are counted in the summary line.
"""

from absl import flags

from jaxau import cli

_INPUT = flags.DEFINE_string("input", None, "A video file, an image directory, or a glob of images.")
_OUTPUT = flags.DEFINE_string("output", None, "The CSV to write.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Trained estimator directory.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Frames per jitted batch.")


def main(argv):
    from jaxau import platform
    from jaxau.validate import ConfigError

    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: pass --input=... --output=... --model_dir=...")
    missing = [n for n, f in (("--input", _INPUT), ("--output", _OUTPUT), ("--model_dir", _MODEL_DIR)) if not f.value]
    if missing:
        raise ConfigError(f"{', '.join(missing)} required: see jaxau-predict --help.")
    platform.configure_xla()
    from jaxau import inference

    summary = inference.predict_to_csv(_INPUT.value, _OUTPUT.value, _MODEL_DIR.value, batch_size=_BATCH.value)
    print(f"{summary['frames']} frames: {summary['success']} with AUs, {summary['no_face']} without a face, "
          f"{summary['non_finite']} with non-finite estimates, {summary['unreadable']} unreadable "
          f"({summary['frames_per_second']:.1f} frames/s) -> {_OUTPUT.value}")
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run_app(main)


if __name__ == "__main__":
    run()
