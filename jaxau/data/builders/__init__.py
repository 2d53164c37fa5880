"""TFDS builders for the real AU datasets (FERA 2017, BP4D, BP4D+, DISFA, UNBC-McMaster, Multi-PIE,
300W-LP).

Nothing is imported here on purpose: each builder module imports TensorFlow Datasets and registers a
TFDS dataset name when it is imported. Resolve datasets through :mod:`jaxau.data.registry`, which
imports a builder module only when that dataset is asked for.
"""
