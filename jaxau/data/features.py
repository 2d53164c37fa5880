"""The feature schema every jaxau TFDS builder shares (DESIGN.md, "Datasets").

Every example has ``image`` (uint8 HxWx3), ``au_intensity`` (int32[K], AU names in the builder's
metadata, -1 = unknown), ``subject``, ``sequence``, ``frame`` and ``pose`` (an integer id plus yaw and
pitch in degrees; NaN where a dataset does not know the angle). Builders add their own extra features
(SynthFACS: exact geometry) on top of these.
"""

from __future__ import annotations

from typing import Any, Sequence

from jaxau import au

# Pose ids for datasets with a single frontal camera.
FRONTAL_POSE_ID = 0


def base_features(num_aus: int, image_shape: Sequence[int | None] = (None, None, 3),
                  encoding_format: str = "png") -> dict[str, Any]:
    """Returns the shared feature dict (to be wrapped in ``tfds.features.FeaturesDict``).

    Args:
      num_aus: K, the number of AUs labelled by the dataset.
      image_shape: (H, W, 3); ``None`` for a variable size.
      encoding_format: 'png' (lossless, synthetic data) or 'jpeg' (video frames).
    """
    import numpy as np
    import tensorflow_datasets as tfds

    return {
        "image": tfds.features.Image(shape=tuple(image_shape), dtype=np.uint8,
                                     encoding_format=encoding_format),
        "au_intensity": tfds.features.Tensor(shape=(num_aus,), dtype=np.int32),
        "subject": tfds.features.Text(),
        "sequence": tfds.features.Text(),
        "frame": np.int32,
        "pose": {
            "id": np.int32,
            "yaw": np.float32,
            "pitch": np.float32,
        },
    }


def au_metadata(au_names: Sequence[str]):
    """``tfds.core.MetadataDict`` recording the AU column names of ``au_intensity``."""
    import tensorflow_datasets as tfds

    md = tfds.core.MetadataDict()
    md["au_names"] = list(au.canonical_aus(au_names))
    return md
