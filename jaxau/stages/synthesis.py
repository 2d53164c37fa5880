"""Stage ``synthesis``: semantic resampling of registered training frames with the trained generator.

Roles: ``generator``; ``sources`` (a registration stage: its ``train.npz`` frames are re-animated);
optional ``targets`` (a registration stage whose ``train.npz`` labels give the target AU vectors, for
cross-domain synthesis: paper Sec. 4.7 re-animates MultiPIE faces with FERA's label distribution;
default the sources; ``config.synthesis.targets`` may name any frame-set .npz instead). Writes ``synthetic.npz`` (the balanced
synthetic frame set ``estimator`` stages train on), ``plan.npz``, ``chunks/``
(resumable), ``synthesis.json`` (counts, skipped cells, images/s) and ``preview_synthesis.png``.
"""

from __future__ import annotations

from jaxau.data import frames as frames_lib
from jaxau.stages import frames as frames_stage
from jaxau.synthesis import synthesize


def run(config, stage_dir: str, inputs) -> dict:
    sources = frames_lib.load(frames_stage.split_path(inputs["sources"], "train"))
    targets_path = str(config.synthesis.get("targets", "") or "")
    if inputs.get("targets"):
        targets_path = frames_stage.split_path(inputs["targets"], "train")
    targets = frames_lib.load(targets_path) if targets_path else None
    record = synthesize.synthesize_set(
        inputs["generator"], sources, stage_dir, per_level=int(config.synthesis.per_level),
        targets=targets, seed=int(config.seed), batch_size=int(config.synthesis.get("batch_size", 32)),
        chunk_size=int(config.synthesis.get("chunk_size", 256)))
    return {k: record[k] for k in ("num_images", "per_level", "skipped_cells", "images_per_second")}
