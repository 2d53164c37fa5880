"""Stage ``data``: build the configured AU dataset (TFDS) and record its label statistics."""

from __future__ import annotations

import os

import numpy as np

from jaxau import io_utils
from jaxau.data import resolve
from jaxau.data.balance import label_histogram


def tfds_dir(config, stage_dir: str) -> str:
    """Where the dataset lives: the user's ``data.data_dir`` if given, else inside the stage."""
    return config.data.get("data_dir") or os.path.join(stage_dir, "tfds")


def run(config, stage_dir: str, inputs) -> dict:
    directory = tfds_dir(config, stage_dir)
    builder = resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    import tensorflow_datasets as tfds

    au_names = list(builder.info.metadata["au_names"]) if builder.info.metadata else []
    stats = {"au_names": au_names, "splits": {}}
    for split, info in builder.info.splits.items():
        ds = builder.as_dataset(split=split).map(lambda ex: ex["au_intensity"]).batch(1024)
        labels = np.concatenate(list(tfds.as_numpy(ds))) if info.num_examples else np.zeros((0, len(au_names)))
        stats["splits"][split] = {"num_examples": int(info.num_examples),
                                  "level_counts": label_histogram(labels).tolist()}
    io_utils.write_json(os.path.join(stage_dir, "label_stats.json"), stats)
    return {"name": str(config.data.name), "data_dir": directory,
            **{f"{s}_examples": v["num_examples"] for s, v in stats["splits"].items()}}
