"""Stage ``frames_raw``: the unregistered baseline — frames as captured, resized, as frame sets.

Writes ``<stage>/{train,validation,test}.npz`` (`jaxau.data.frames`), the same files the
registration stages write, so every estimator stage reads one format.
"""

from __future__ import annotations

import os

from jaxau import au as au_lib
from jaxau.au import SPLITS
from jaxau.data import frames as frames_lib
from jaxau.stages import data as data_stage



def split_path(stage_dir: str, split: str) -> str:
    return os.path.join(stage_dir, f"{split}.npz")


def aus(config) -> list[str]:
    return au_lib.parse_aus(config.data.aus)


def run_raw(config, stage_dir: str, inputs) -> dict:
    directory = data_stage.tfds_dir(config, inputs["data"])
    summary = {}
    for split in SPLITS:
        frames = frames_lib.load_tfds(config.data.name, split, data_dir=directory,
                                      image_size=int(config.data.image_size), aus=aus(config))
        frames_lib.save(split_path(stage_dir, split), frames)
        summary[f"{split}_frames"] = int(len(frames["image"]))
    return summary
