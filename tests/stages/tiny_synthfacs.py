"""A tiny ``synthfacs/fera_small`` TFDS build shared by the registration tests (cached on disk).

The real builder renders every subject at 2x supersampling; for tests we render 3 training subjects
(all their frames at all 9 poses), 9 validation frames and one test subject (all poses) without
supersampling, by wrapping the generator the builder calls. The result lives in pytest's cache
directory (keyed by ``VERSION``), so it is built once per checkout.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os

VERSION = "v2"
SUBJECTS = {"train": [0, 1, 2], "validation": [0], "test": [0]}
MAX_FRAMES = {"train": None, "validation": 9, "test": None}


def build(root: str) -> str:
    """Builds (once) and returns the TFDS data_dir holding the tiny ``synthfacs/fera_small``."""
    data_dir = os.path.join(root, f"tfds_{VERSION}")
    os.makedirs(root, exist_ok=True)
    # pytest-xdist workers may ask at the same time: one builds, the others wait for it.
    with open(os.path.join(root, f"build_{VERSION}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _build(data_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(data_dir: str) -> str:
    from jaxau.data import resolve
    from jaxau.face import synth

    original = synth.generate_examples

    def small(config, split, **kwargs):
        config = dataclasses.replace(synth.get_config(config) if isinstance(config, str) else config,
                                     supersample=1, batch_size=27)
        return original(config, split, subjects=SUBJECTS[split], max_frames_per_subject=MAX_FRAMES[split])

    synth.generate_examples = small
    try:
        resolve.ensure_built("synthfacs/fera_small", data_dir)
    finally:
        synth.generate_examples = original
    return data_dir
