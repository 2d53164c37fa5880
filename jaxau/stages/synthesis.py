"""Stage ``synthesis``: semantic resampling of the 3D-registered training frames with the trained generator.

Sources and target label vectors both come from ``<register_3d>/train.npz`` (``config.synthesis.targets``
may name another frame set's .npz for cross-domain synthesis). Writes ``synthetic.npz`` (the balanced
synthetic frame set the ``estimator_synthetic_3d`` stage trains on), ``plan.npz``, ``chunks/``
(resumable), ``synthesis.json`` (counts, skipped cells, images/s) and ``preview_synthesis.png``.
"""

from __future__ import annotations

from jaxau.data import frames as frames_lib
from jaxau.stages import frames as frames_stage


def run(config, stage_dir: str, inputs) -> dict:
    from jaxau.synthesis import synthesize

    sources = frames_lib.load(frames_stage.split_path(inputs["register_3d"], "train"))
    targets_path = str(config.synthesis.get("targets", "") or "")
    targets = frames_lib.load(targets_path) if targets_path else None
    record = synthesize.synthesize_set(
        inputs["generator"], sources, stage_dir, per_level=int(config.synthesis.per_level),
        targets=targets, seed=int(config.seed), batch_size=int(config.synthesis.get("batch_size", 32)),
        chunk_size=int(config.synthesis.get("chunk_size", 256)))
    return {k: record[k] for k in ("num_images", "per_level", "skipped_cells", "images_per_second")}
