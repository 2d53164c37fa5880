"""jaxau: learning to measure facial action units from synthetic, AU-balanced expressions (JAX)."""

import setuptools

# Tested ranges, so jaxau installs into an existing environment (`pip install jaxau`, or
# `pip install -e .` in a checkout). Lower bound: the oldest version a full test run passed with
# (constraints/py311.txt); upper bound: the next major version, for 0.x packages the next minor
# (they break APIs there: JAX removes deprecated APIs in minor releases), or a known-breaking one.
# The exact versions the README's commands and CI install are in constraints/py311.txt (Python
# 3.11, JAX 0.10 -- the newest JAX that supports 3.11) and constraints/py313.txt (Python 3.13, the
# newest JAX). tests/test_packaging.py checks both files against these ranges.
# Keep this list and BUILD_NOTES.md ("Dependencies") in sync.
INSTALL_REQUIRES = [
    "jax>=0.10.2,<0.13",
    "jaxlib>=0.10.2,<0.13",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    # tf.data and TFDS only (never models); the CPU build, which is all jaxau needs.
    "tensorflow-cpu>=2.21.0,<3",
    "tensorflow-datasets>=4.9.10,<5",
    # tensorflow-datasets 4.9.10 imports importlib_resources without declaring it.
    "importlib_resources>=7.1.0,<8",
    "numpy>=2.4.6,<3",
    "absl-py>=2.5.1,<3",
    "ml-collections>=1.1.0,<2",
    # OpenCV < 5: the 5.x wheels ship neither cv2.CascadeClassifier nor the Haar cascade files.
    "opencv-python-headless>=4.14.0.94,<5",
    "clu>=0.0.12,<0.1",
    # clu's metric writers need tensorboard for summaries.
    "tensorboard>=2.21.0,<3",
    "h5py>=3.14.0,<4",
    # scipy.io.loadmat reads 300W-LP and BFM .mat files.
    "scipy>=1.17.1,<2",
    "matplotlib>=3.11.2,<4",
    # jaxau.Detector returns pandas DataFrames.
    "pandas>=3.1.1,<4",
]

EXTRAS_REQUIRE = {
    # Independent references used by the test-suite (statistics, Keras VGG16 parity).
    "test": ["pytest>=9.2.0,<10", "pytest-xdist>=3.8.0,<4", "pingouin>=0.7.0,<0.8"],
    "gpu": ["jax[cuda12]>=0.10.2,<0.13"],
    "tpu": ["jax[tpu]>=0.10.2,<0.13"],
}

# One console script per launcher in launch/: jaxau-<name> runs launch/<name>.py's run().
LAUNCHERS = ["reproduce", "predict", "evaluate", "train_estimator", "train_generator", "train_registration",
             "register", "synthesize", "preview_registration", "preview_synthfacs"]

setuptools.setup(
    name="jaxau",
    version="0.1.0",
    description="Facial action unit intensity estimation trained on synthetic, AU-balanced expressions (JAX).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # configs/ and launch/ are packages too: launchers import configs (configs/paper/*.py import
    # configs.paper.base) and console scripts import launch.<name>, from any directory.
    packages=setuptools.find_packages(include=["jaxau", "jaxau.*", "configs", "configs.*", "launch"]),
    # The rasterizer's C++ kernel ships as source: jaxau.geometry.native compiles it on first use.
    package_data={"jaxau": ["face/assets/*", "face/assets/**/*", "geometry/*.cc"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": [f"jaxau-{n.replace('_', '-')} = launch.{n}:run" for n in LAUNCHERS]},
    license="Apache-2.0",
)
