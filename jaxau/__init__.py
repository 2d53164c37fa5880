"""jaxau: facial action unit intensity estimation trained on synthetic, AU-balanced expressions.

Reimplements and extends Niinuma et al., "Synthetic Expressions are Better Than Real for Learning to
Detect Facial Actions" (WACV 2021) in JAX. Importing this package is cheap: it imports neither
TensorFlow nor JAX; submodules import what they need.

``jaxau.Detector`` (AU intensities of your videos and images as ``pandas.DataFrame``s) is
`jaxau.inference.Detector`, imported on first use.
"""

import importlib

__version__ = "0.1.0"

# Public names loaded on first access: {name: module defining it}.
_LAZY = {"Detector": "jaxau.inference"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxau' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
