"""Stage ``frames_raw``: the unregistered baseline — frames as captured, resized, as frame sets.

Writes ``<stage>/{train,validation,test}.frames`` (frame stores, `jaxau.data.frame_store`), the same
outputs the registration stages write, so every estimator stage reads one format. Workdirs of older
versions hold ``<split>.npz`` files instead; `split_path` names either (`jaxau.data.frames.load`
resolves the name).
"""

from __future__ import annotations

import os

from jaxau import au as au_lib
from jaxau.au import SPLITS
from jaxau.data import frame_store, frames as frames_lib
from jaxau.stages import data as data_stage



_MODES = {"frames_raw": "raw", "register_2d": "2d", "register_3d": "3d"}


def registration_mode(frames_dir: str) -> str:
    """``'raw'``, ``'2d'`` or ``'3d'``: how a frames stage's directory registered its frames."""
    name = os.path.basename(frames_dir.rstrip("/")).rsplit("-", 1)[0]
    if name not in _MODES:
        raise ValueError(f"{frames_dir} is not a frames_raw / register_2d / register_3d stage directory.")
    return _MODES[name]


def split_path(stage_dir: str, split: str) -> str:
    """The frame set of ``split`` in a frame-producing stage's directory (store or legacy .npz)."""
    return os.path.join(stage_dir, f"{split}{frame_store.SUFFIX}")


def aus(config) -> list[str]:
    return au_lib.parse_aus(config.data.aus)


def run_raw(config, stage_dir: str, inputs) -> dict:
    directory = data_stage.tfds_dir(config, inputs["data"])
    summary = {}
    for split in SPLITS:
        # Streamed into the store batch by batch: a split need not fit in memory.
        frames = frames_lib.save_tfds(split_path(stage_dir, split), config.data.name, split,
                                      data_dir=directory, image_size=int(config.data.image_size),
                                      aus=aus(config))
        summary[f"{split}_frames"] = int(len(frames["image"]))
    return summary
