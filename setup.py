"""jaxau: learning to measure facial action units from synthetic, AU-balanced expressions (JAX)."""

import setuptools

# Versions that install together on CPython 3.11 (checked on x86_64 Linux, CPU only).
# Keep this list and BUILD_NOTES.md ("Dependencies") in sync.
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "tensorflow-cpu==2.21.0",
    "tensorflow-datasets==4.9.10",
    # tensorflow-datasets 4.9.10 imports importlib_resources without declaring it.
    "importlib_resources==7.1.0",
    "numpy==2.4.6",
    "absl-py==2.5.1",
    "ml-collections==1.1.0",
    # OpenCV < 5: the 5.x wheels ship neither cv2.CascadeClassifier nor the Haar cascade files.
    "opencv-python-headless==4.14.0.94",
    "clu==0.0.12",
    # clu's metric writers need tensorboard for summaries.
    "tensorboard==2.21.0",
    "h5py==3.14.0",
    # scipy.io.loadmat reads 300W-LP and BFM .mat files.
    "scipy==1.17.1",
    "matplotlib==3.11.2",
    # jaxau.Detector returns pandas DataFrames.
    "pandas==3.1.1",
]

EXTRAS_REQUIRE = {
    # Independent references used by the test-suite (statistics, Keras VGG16 parity).
    "test": ["pytest==9.2.0", "pytest-xdist==3.8.0", "pingouin==0.7.0"],
    "gpu": ["jax[cuda12]==0.10.2"],
    "tpu": ["jax[tpu]==0.10.2"],
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
    package_data={"jaxau": ["face/assets/*", "face/assets/**/*"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": [f"jaxau-{n.replace('_', '-')} = launch.{n}:run" for n in LAUNCHERS]},
    license="Apache-2.0",
)
