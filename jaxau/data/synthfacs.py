"""``synthfacs``: the procedural AU-video dataset as a TFDS builder (no downloads).

Importing this module registers the builder, so ``tfds.builder('synthfacs/fera_small',
data_dir=...)`` followed by ``download_and_prepare()`` builds offline, and ``tfds.load(...,
download=False)`` reads it back. Configs (see :mod:`jaxau.face.synth` for their numbers):

* ``fera``: 9 head poses on a yaw x pitch grid, 41 / 20 / 30 train / validation / test subjects,
  FERA 2017's AU01 AU04 AU06 AU10 AU12 AU14 AU17, social-interaction base rates.
* ``multipie``: high-resolution frontal, posed expressions (neutral, smile, surprise, squint, disgust,
  scream) under flashes from different directions.
* ``disfa``: frontal, a further camera, office lighting, film-watching base rates, DISFA's 12 AUs.
* ``*_small``: 8 subjects, a few frames each, 128 px, for tests and the demo (< 2 minutes to build).

Features: the shared schema (:func:`jaxau.data.features.base_features`) plus exact ground truth:
``vertices`` [V,3] and ``landmarks_3d`` [68,3] in image space (x right, y down, pixels; z pixels,
larger nearer), ``landmarks_2d`` [68,2], ``uv_position_map`` [S,S,3] (float16, the same image-space
coordinates in our UV layout; 0 outside the face), ``au_intensity_continuous`` [K], ``albedo`` (the
identity's integer id) and ``neutral`` (every simulated AU at level 0).

The pure-Python generator is :func:`generate_examples` (no TFDS involved).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from jaxau.data import features as shared_features
from jaxau.face import synth
from jaxau.face.asset import load_asset

generate_examples = synth.generate_examples
get_config = synth.get_config


class SynthFacsConfig(tfds.core.BuilderConfig):
    """A TFDS config wrapping one :class:`jaxau.face.synth.SynthConfig`."""

    def __init__(self, synth_config: synth.SynthConfig):
        super().__init__(name=synth_config.name,
                         description=f"SynthFACS {synth_config.domain} domain "
                                     f"({synth_config.image_size}px, AUs {','.join(synth_config.aus)})")
        self.synth = synth_config


class Synthfacs(tfds.core.GeneratorBasedBuilder):
    """SynthFACS: rendered MakeHuman heads with exact FACS AU intensities and geometry."""

    VERSION = tfds.core.Version(synth.VERSION)
    RELEASE_NOTES = dict(synth.RELEASE_NOTES)
    BUILDER_CONFIGS = [SynthFacsConfig(c) for c in synth.CONFIGS.values()]

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config.synth
        k = len(cfg.aus)
        nv = load_asset().num_vertices
        size = cfg.image_size
        feats = shared_features.base_features(k, (size, size, 3), encoding_format="png")
        zlib = tfds.features.Encoding.ZLIB
        feats.update({
            "au_intensity_continuous": tfds.features.Tensor(shape=(k,), dtype=np.float32),
            "vertices": tfds.features.Tensor(shape=(nv, 3), dtype=np.float32, encoding=zlib),
            "landmarks_2d": tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
            "landmarks_3d": tfds.features.Tensor(shape=(68, 3), dtype=np.float32),
            "albedo": np.int32,
            "neutral": np.bool_,
        })
        if cfg.uv_size:
            feats["uv_position_map"] = tfds.features.Tensor(
                shape=(cfg.uv_size, cfg.uv_size, 3), dtype=np.float16, encoding=zlib)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(feats),
            metadata=shared_features.au_metadata(cfg.aus),
            homepage="https://github.com/ (jaxau, synthetic; no source data)",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: everything is rendered from the shipped asset.
        cfg = self.builder_config.synth
        return {split: self._generate_examples(split) for split in synth.SPLITS
                if cfg.subjects.get(split, 0) > 0}

    def _generate_examples(self, split):
        yield from synth.generate_examples(self.builder_config.synth, split)
