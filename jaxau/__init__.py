"""jaxau: facial action unit intensity estimation trained on synthetic, AU-balanced expressions.

Reimplements and extends Niinuma et al., "Synthetic Expressions are Better Than Real for Learning to
Detect Facial Actions" (WACV 2021) in JAX. Importing this package is cheap: it imports neither
TensorFlow nor JAX; submodules import what they need.
"""

__version__ = "0.1.0"
