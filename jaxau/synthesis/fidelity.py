"""Generator fidelity: generated images scored against SynthFACS oracle renders (`jaxau.synthesis.oracle`).

For a fixed sample of semantic-resampling plan entries (``per_cell`` entries of every (AU, level)
cell) with SynthFACS sources, the oracle image is the source re-rendered with the target expression.
Metrics (images in [0, 1], over each image's face region: the oracle's registered head coverage):

* ``l1_generated`` / ``l1_copy_source``: mean absolute difference to the oracle of the generated image
  and of the unedited source. A generator that does not beat copying its input has learned nothing.
* ``edit_cosine``: cosine between the generated edit ``G - src`` and the true edit ``oracle - src``
  (per image, 0 when either edit is zero; mean over images, and per target AU of the plan cells).
* ``edit_gain``: how much of the true edit the generator draws, the projection of ``G - src`` on
  ``oracle - src`` as a fraction of ``|oracle - src|`` (per image, 0 when the true edit is zero; mean
  over images): 1 for the oracle, 0 for copying, 0.5 for half the true edit. A generator can point
  its edits the right way (cosine) and still draw too little of them for a reader to see.
* ``edit_gain_added`` / ``edit_gain_removed``: the edit gain against each half of the labelled
  change alone (`direction_gains`): the AUs the target raises (drawn in) and those it lowers (the
  source's own expression taken out), over the entries that have such a change; ``*_ceiling`` is the
  labelled oracle's (~1 where the two halves do not interact).
* ``reader_icc_generated`` / ``reader_icc_oracle`` / ``reader_icc_source``: a fixed reference AU
  reader (a real-frame estimator of the same registration) reads the generated, oracle and source
  images; ICC(3,1) of its read-out against the target levels, mean over AUs.

The full oracle changes all 18 simulated AUs to the target frame's, while the generator is told only
its AU columns. The *labelled oracle* changes only those (the source keeps its other AUs): the best a
generator with that input can do. Against it: ``l1_generated_labelled`` / ``l1_copy_source_labelled``,
``edit_cosine_labelled`` (and per AU) and ``reader_icc_labelled``; ``edit_cosine_ceiling`` is the
labelled oracle's own edit cosine against the full oracle and ``l1_labelled_oracle`` its L1 to it (what
a perfect generator scores on the full-oracle metrics).

The generator's critic (its AU head) is scored on labelled frames by
`jaxau.train.generator.critic_icc`, which the generator trainer logs while training. Given the critic,
``measure`` also reads the sample with it: ``critic_icc_oracle`` is how well the critic reads the exact
target expressions G is asked to draw (every (AU, level) cell equally often, where validation frames hold
a few positive frames of the rarer AUs), ``critic_icc_generated`` how well G's images satisfy it, and
``critic_icc_source`` the floor (the sources do not show their targets). A generated reading near the
oracle's while the reader's stays low says G satisfies the critic with features the reader does not see.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import numpy as np

from jaxau.data import frames as frames_lib
from jaxau.synthesis.plan import SynthesisPlan
from jaxau import io_utils
from jaxau.evaluation import metrics
from jaxau.train.generator import write_png


def sample_entries(plan: SynthesisPlan, per_cell: int) -> np.ndarray:
    """The first ``per_cell`` entries of every (AU, level) cell of a plan (plan rows, sorted)."""
    if per_cell <= 0 or not len(plan):
        return np.zeros(0, np.int64)
    keys = plan.au.astype(np.int64) * 1000 + plan.level.astype(np.int64)
    out = []
    for key in np.unique(keys):
        out.append(np.flatnonzero(keys == key)[:per_cell])
    return np.sort(np.concatenate(out))


def _unit(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float64) / 255.0


def masked_l1(a: np.ndarray, b: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per image, the mean ``|a - b|`` (uint8 images read as [0, 1]) over the face pixels ``[N, H, W]``."""
    diff = np.abs(_unit(a) - _unit(b)).mean(-1)
    count = face.reshape(len(face), -1).sum(1)
    return np.where(count > 0, (diff * face).reshape(len(face), -1).sum(1) / np.maximum(count, 1), np.nan)


def _edits(source: np.ndarray, generated: np.ndarray, oracle: np.ndarray, face: np.ndarray):
    """``(G - src, oracle - src)`` over the face pixels, one flat row per image."""
    m = face[..., None].astype(np.float64)
    g = ((_unit(generated) - _unit(source)) * m).reshape(len(source), -1)
    o = ((_unit(oracle) - _unit(source)) * m).reshape(len(source), -1)
    return g, o


def _cosines(g: np.ndarray, o: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(g, axis=1) * np.linalg.norm(o, axis=1)
    return np.where(norm > 0, (g * o).sum(1) / np.where(norm > 0, norm, 1.0), 0.0)


def _gains(g: np.ndarray, o: np.ndarray) -> np.ndarray:
    sq = (o * o).sum(1)
    return np.where(sq > 0, (g * o).sum(1) / np.where(sq > 0, sq, 1.0), 0.0)


def edit_cosines(source: np.ndarray, generated: np.ndarray, oracle: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per image, the cosine between ``generated - source`` and ``oracle - source`` over the face
    pixels (all channels); 0 where either edit is zero."""
    return _cosines(*_edits(source, generated, oracle, face))


def edit_gains(source: np.ndarray, generated: np.ndarray, oracle: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per image, ``<generated - source, oracle - source> / |oracle - source|^2`` over the face
    pixels (all channels); 0 where the true edit is zero."""
    return _gains(*_edits(source, generated, oracle, face))


def direction_gains(renderer: Any, sources: frames_lib.FrameSet, source_rows: np.ndarray,
                    targets: frames_lib.FrameSet, target_rows: np.ndarray, au_names: Sequence[str],
                    images: dict[str, np.ndarray], target_index: Any = None) -> dict:
    """How much of each half of the labelled change each image set draws.

    The labelled change (`jaxau.synthesis.oracle.with_expression` with ``expression_aus=au_names``)
    splits into the AUs the target raises (the expression *added*) and those it lowers (the source's
    own expression *removed*). Each half is rendered alone (the other AUs kept at the source's) and
    every set in ``images`` is scored by its mean `edit_gains` on it, over the entries that have such
    a change (NaN when none has): ``{'<name>_gain_added', '<name>_gain_removed', 'entries_added',
    'entries_removed'}``. A generator that draws the target AUs and leaves the source's expression in place gains ~1 on the
    first and ~0 on the second.
    """
    src = sources["image"][source_rows]
    # strength 0 on one direction: that half of the change is not drawn, the other half fully.
    added = renderer.oracle(sources, source_rows, targets, target_rows, target_index, expression_aus=au_names,
                            strength=0.0, direction="down")
    removed = renderer.oracle(sources, source_rows, targets, target_rows, target_index, expression_aus=au_names,
                              strength=0.0, direction="up")
    out: dict[str, Any] = {}
    for half, rendered in (("added", added), ("removed", removed)):
        _, o = _edits(src, src, rendered.image, rendered.face)
        has = (o * o).sum(1) > 0
        out[f"entries_{half}"] = int(has.sum())
        for name, imgs in images.items():
            gains = edit_gains(src, imgs, rendered.image, rendered.face)[has]
            out[f"{name}_gain_{half}"] = float(gains.mean()) if has.any() else float("nan")
    return out


def image_metrics(source: np.ndarray, generated: np.ndarray, oracle: np.ndarray, face: np.ndarray,
                  target_au: np.ndarray, au_names: Sequence[str]) -> dict:
    """The image-space fidelity metrics of aligned ``source`` / ``generated`` / ``oracle`` batches.

    Args:
      source, generated, oracle: uint8 ``[N, H, W, 3]``.
      face: bool ``[N, H, W]`` face region.
      target_au: ``[N]`` the AU column each entry's plan cell balances.
      au_names: names of the AU columns.

    Returns:
      ``l1_generated``, ``l1_copy_source``, ``edit_cosine``, ``edit_gain`` (means over images) and
      ``edit_cosine_by_au`` (AU name -> mean over its entries).
    """
    l1_g, l1_s = masked_l1(generated, oracle, face), masked_l1(source, oracle, face)
    edits = _edits(source, generated, oracle, face)
    cos = _cosines(*edits)
    by_au = {str(a): float(cos[target_au == k].mean()) for k, a in enumerate(au_names) if (target_au == k).any()}
    return {"l1_generated": float(np.nanmean(l1_g)), "l1_copy_source": float(np.nanmean(l1_s)),
            "edit_cosine": float(cos.mean()), "edit_cosine_by_au": by_au,
            "edit_gain": float(_gains(*edits).mean())}


def reader_iccs(read: Any, images: dict[str, np.ndarray], targets: np.ndarray, au_names: Sequence[str],
                prefix: str = "reader") -> dict:
    """``<prefix>_icc_<name>`` for each image batch: ICC(3,1) of ``read(images)`` against ``targets``.

    Args:
      read: uint8 images ``[N, H, W, 3]`` -> intensities ``[N, K]`` in ``au_names`` order.
      images: name -> batch (e.g. generated, oracle, source).
      targets: ``[N, K]`` target levels (-1 unknown).
      au_names: AU names (per-AU values in ``<prefix>_icc_<name>_by_au``).
      prefix: the reader's name in the keys (``reader``, ``critic``).
    """
    out = {}
    for name, batch in images.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
            per_au = np.atleast_1d(metrics.icc(targets, read(batch)))
        out[f"{prefix}_icc_{name}"] = float(np.mean(per_au))
        out[f"{prefix}_icc_{name}_by_au"] = {str(a): float(v) for a, v in zip(au_names, per_au)}
    return out


def sheet(source: np.ndarray, generated: np.ndarray, oracle: np.ndarray, columns: int = 12) -> np.ndarray:
    """uint8 picture: per group of ``columns`` entries, three rows (source | generated | oracle)."""
    n, h, w, _ = source.shape
    columns = max(1, min(columns, n))
    groups = -(-n // columns)
    out = np.zeros((groups * 3 * h, columns * w, 3), np.uint8)
    for i in range(n):
        g, c = divmod(i, columns)
        for r, batch in enumerate((source, generated, oracle)):
            out[(3 * g + r) * h:(3 * g + r + 1) * h, c * w:(c + 1) * w] = batch[i]
    return out


def measure(renderer: Any, generate: Any, sources: frames_lib.FrameSet, plan: SynthesisPlan,
            au_names: Sequence[str], *, per_cell: int, targets: frames_lib.FrameSet | None = None,
            target_index: Any = None, read: Any = None, critic: Any = None, out_dir: str | None = None,
            rerender_check: int = 8) -> dict:
    """Fidelity of a generator on a plan sample (module docstring).

    Args:
      renderer: a `jaxau.synthesis.oracle.OracleRenderer` for the sources' domain and registration.
      generate: ``(source uint8 images, target levels [N, K], the sources' own levels [N, K]) -> uint8
        images`` (the generator).
      sources: the plan's source frame set (SynthFACS frames).
      plan: the resampling plan.
      au_names: its AU columns.
      per_cell: entries sampled per (AU, level) cell.
      targets: the frame set of the plan's target rows (default ``sources``).
      target_index: `RequestIndex` of the targets' domain (default the sources').
      read: optional reference reader ``uint8 images -> [N, K]`` intensities (``au_names`` order).
      critic: optional generator's critic as a reader, the same signature (``critic_icc_*``).
      out_dir: writes ``fidelity.png`` (source | generated | oracle rows) and ``fidelity_samples.npz``.
      rerender_check: sources re-rendered to check the frame set is reproduced (``source_rerender_l1``).

    Returns:
      The metrics record (``entries``, image metrics against the full and the labelled oracle, reader
      ICCs, ``source_rerender_l1``: how far the
      re-rendered sources are from the stored ones, 0 when the frames are reproduced exactly).
    """
    rows = sample_entries(plan, per_cell)
    targets = sources if targets is None else targets
    src_rows, tgt_rows = plan.source_index[rows], plan.target_index[rows]
    oracle = renderer.oracle(sources, src_rows, targets, tgt_rows, target_index)
    labelled = renderer.oracle(sources, src_rows, targets, tgt_rows, target_index, expression_aus=au_names)
    src_images = sources["image"][src_rows]
    labels = plan.target_labels[rows]
    generated = generate(src_images, labels, np.asarray(sources["au_intensity"])[src_rows])
    face = oracle.face
    keep = oracle.ok & labelled.ok
    record = {"entries": int(len(rows)), "per_cell": int(per_cell), "registration_failed": int((~keep).sum())}
    sel = np.flatnonzero(keep)
    record.update(image_metrics(src_images[sel], generated[sel], oracle.image[sel], face[sel], plan.au[rows][sel],
                                au_names))
    vs_labelled = image_metrics(src_images[sel], generated[sel], labelled.image[sel], face[sel], plan.au[rows][sel],
                                au_names)
    record.update({"l1_generated_labelled": vs_labelled["l1_generated"],
                   "l1_copy_source_labelled": vs_labelled["l1_copy_source"],
                   "edit_cosine_labelled": vs_labelled["edit_cosine"],
                   "edit_cosine_labelled_by_au": vs_labelled["edit_cosine_by_au"],
                   "edit_gain_labelled": vs_labelled["edit_gain"]})
    ceiling = image_metrics(src_images[sel], labelled.image[sel], oracle.image[sel], face[sel], plan.au[rows][sel],
                            au_names)
    record.update({"edit_cosine_ceiling": ceiling["edit_cosine"], "edit_gain_ceiling": ceiling["edit_gain"],
                   "l1_labelled_oracle": ceiling["l1_generated"]})
    # Which half of the change G draws: the target's AUs added, the source's own removed.
    halves = direction_gains(renderer, sources, src_rows[sel], targets, tgt_rows[sel], au_names,
                             {"generated": generated[sel], "labelled": labelled.image[sel]}, target_index)
    record.update({"edit_gain_added": halves["generated_gain_added"],
                   "edit_gain_removed": halves["generated_gain_removed"],
                   "edit_gain_added_ceiling": halves["labelled_gain_added"],
                   "edit_gain_removed_ceiling": halves["labelled_gain_removed"],
                   "entries_added": halves["entries_added"], "entries_removed": halves["entries_removed"]})
    # A check that the sources are reproduced exactly (rendering is the expensive part: a few suffice).
    check = sel[:rerender_check]
    rerendered = renderer.sources(sources, src_rows[check])
    record["source_rerender_l1"] = float(np.nanmean(masked_l1(rerendered.image, src_images[check], face[check])))
    record["source_rerender_entries"] = int(len(check))
    if read is not None:
        record.update(reader_iccs(read, {"generated": generated[sel], "oracle": oracle.image[sel],
                                         "labelled": labelled.image[sel], "source": src_images[sel]},
                                  labels[sel], au_names))
    if critic is not None:
        record.update(reader_iccs(critic, {"generated": generated[sel], "oracle": oracle.image[sel],
                                           "source": src_images[sel]}, labels[sel], au_names, prefix="critic"))
    if out_dir:

        # One entry per (AU, level) cell in the picture, in plan order.
        first = np.flatnonzero(np.r_[True, np.diff(plan.au[rows] * 1000 + plan.level[rows]) != 0])
        write_png(os.path.join(out_dir, "fidelity.png"),
                  sheet(src_images[first], generated[first], oracle.image[first], columns=6))
        io_utils.savez(os.path.join(out_dir, "fidelity_samples.npz"), plan_rows=rows, source=src_images,
                       generated=generated, oracle=oracle.image, oracle_labelled=labelled.image, face=face,
                       target_labels=labels)
    return record
