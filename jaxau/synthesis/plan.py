"""Semantic resampling plan (paper Sec. 4.2.2): which source frame is re-rendered with which AU vector.

For every AU ``k`` and level ``l`` in 0..5 the plan holds exactly ``N`` entries ``(source, target)``:

* the *source* is a frame in which AU ``k`` is known to be absent (label 0), so the generator has to
  produce AU ``k`` rather than copy it ("no source shows its target AU");
* the *target* is a real frame whose AU ``k`` has level ``l``; its whole label vector (all AUs) is the
  generator's condition and becomes the synthetic image's labels, so co-occurring AUs stay realistic.

Level 0 means the same thing: the target vector comes from a real frame in which AU ``k`` is absent
(other AUs may be present), so the level-0 cell of AU ``k`` is balanced like the others.

Sources and targets may come from different frame sets (cross-domain synthesis: identities of one
dataset, expressions of another), which must share AU columns. Draws are uniform without replacement
while a cell's candidates last, then with replacement, from a generator seeded by ``(seed, k, l)``: a
plan is a pure function of its inputs and one cell does not depend on the others. A cell without
candidates (no real frame has AU ``k`` at level ``l``, or no source lacks AU ``k``) is skipped and
reported, never filled with something else.

`natural_plan` is the control without the balancing (not in the paper): as many entries, each a
source drawn uniformly from every frame and a target vector drawn uniformly from every target frame,
so the set keeps the targets' own intensity distribution while every image is still a new pairing of
one frame's face with another frame's expression (`PLANS`).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

LEVELS = 6
# 'semantic': the paper's balanced plan (`semantic_plan`); 'natural': as many entries with the
# targets' own distribution (`natural_plan`).
PLANS = ("semantic", "natural")


@dataclasses.dataclass(frozen=True)
class SynthesisPlan:
    """A semantic resampling plan; entry ``i`` re-renders ``source_index[i]`` with ``target_labels[i]``.

    Attributes:
      source_index: ``[M]`` rows of the source frame set.
      target_index: ``[M]`` rows of the target-label frame set.
      target_labels: ``[M, K]`` int32 label vectors (0..5, -1 unknown): the synthetic labels.
      au: ``[M]`` the AU (column) the entry balances.
      level: ``[M]`` its level.
      per_level: N.
      skipped: ``[(au, level), ...]`` cells with no candidates.
    """

    source_index: np.ndarray
    target_index: np.ndarray
    target_labels: np.ndarray
    au: np.ndarray
    level: np.ndarray
    per_level: int
    skipped: tuple

    def __len__(self) -> int:
        return len(self.source_index)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"source_index": self.source_index, "target_index": self.target_index,
                "target_labels": self.target_labels, "au": self.au, "level": self.level,
                "per_level": np.int64(self.per_level),
                "skipped": np.asarray(self.skipped, np.int64).reshape(-1, 2)}

    def fingerprint(self) -> str:
        """A digest of the plan (resumed synthesis checks it matches the finished chunks')."""
        h = hashlib.sha256()
        for k, v in sorted(self.arrays().items()):
            h.update(k.encode())
            h.update(np.ascontiguousarray(v).tobytes())
        return h.hexdigest()[:16]


def _draw(rng: np.random.Generator, candidates: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``candidates``: a permutation first, then uniform draws with replacement."""
    perm = candidates[rng.permutation(len(candidates))]
    if n <= len(perm):
        return perm[:n]
    return np.concatenate([perm, candidates[rng.integers(0, len(candidates), n - len(perm))]])


def _checked(name: str, source_labels, target_labels, per_level: int) -> tuple[np.ndarray, np.ndarray]:
    """``(source labels, target labels)`` as arrays (targets default to the sources), or ValueError."""
    source_labels = np.asarray(source_labels)
    target_labels = source_labels if target_labels is None else np.asarray(target_labels)
    if source_labels.ndim != 2 or target_labels.ndim != 2 or source_labels.shape[1] != target_labels.shape[1]:
        raise ValueError(f"{name}: source labels {source_labels.shape} and target labels "
                         f"{target_labels.shape} must be [N, K] with the same K (select the same AUs).")
    if per_level <= 0:
        raise ValueError(f"{name}: per_level={per_level} must be positive.")
    return source_labels, target_labels


def semantic_plan(source_labels: np.ndarray, target_labels: np.ndarray | None = None, *, per_level: int,
                  seed: int = 0, levels: int = LEVELS) -> SynthesisPlan:
    """Builds the plan.

    Args:
      source_labels: ``[Ns, K]`` int labels of the source frames (0..5, -1 unknown).
      target_labels: ``[Nt, K]`` labels of the frames whose vectors are the targets (default: the
        source frames; another dataset's for cross-domain synthesis). Same AU columns.
      per_level: N, entries per AU per level.
      seed: plan seed.
      levels: intensity levels (6: 0..5).

    Returns:
      A :class:`SynthesisPlan` of ``K * levels * N`` entries minus skipped cells, ordered by AU then
      level.
    """
    source_labels, target_labels = _checked("semantic_plan", source_labels, target_labels, per_level)
    k_count = source_labels.shape[1]
    parts: dict[str, list] = {"source_index": [], "target_index": [], "au": [], "level": []}
    skipped = []
    for k in range(k_count):
        # Sources without the target AU. A source set that does not code AU k at all (every label
        # -1: another domain's faces, paper Sec. 4.7) cannot be filtered for it: all are eligible.
        coded = (source_labels[:, k] >= 0).any()
        sources = np.flatnonzero(source_labels[:, k] == 0) if coded else np.arange(len(source_labels))
        for level in range(levels):
            targets = np.flatnonzero(target_labels[:, k] == level)
            if not len(sources) or not len(targets):
                skipped.append((k, level))
                continue
            rng = np.random.default_rng([seed, k, level])
            parts["source_index"].append(_draw(rng, sources, per_level))
            parts["target_index"].append(_draw(rng, targets, per_level))
            parts["au"].append(np.full(per_level, k))
            parts["level"].append(np.full(per_level, level))
    cat = {name: (np.concatenate(v) if v else np.zeros(0, np.int64)).astype(np.int64) for name, v in parts.items()}
    return SynthesisPlan(source_index=cat["source_index"], target_index=cat["target_index"],
                         target_labels=target_labels[cat["target_index"]].astype(np.int32).reshape(-1, k_count),
                         au=cat["au"], level=cat["level"], per_level=int(per_level), skipped=tuple(skipped))


def natural_plan(source_labels: np.ndarray, target_labels: np.ndarray | None = None, *, per_level: int,
                 seed: int = 0, levels: int = LEVELS) -> SynthesisPlan:
    """The unbalanced control of `semantic_plan`: as many entries, sources and targets drawn uniformly.

    ``K * levels * per_level`` entries; sources are drawn from every source frame and target vectors
    from every target frame (each a permutation first, then uniform draws with replacement, as
    `semantic_plan`'s cells), independently, so the set's labels follow the target frames' own
    distribution. Entry ``i`` is filed under AU ``au = i // (levels * per_level)`` and ``level`` = its
    target's level of that AU (-1 unknown), so per-cell tools (previews, fidelity samples) read it
    as they read a semantic plan; the cells are as unequal as the targets' levels. No cell is
    skipped.

    Args and returns as `semantic_plan`.
    """
    source_labels, target_labels = _checked("natural_plan", source_labels, target_labels, per_level)
    if not len(source_labels) or not len(target_labels):
        raise ValueError(f"natural_plan: {len(source_labels)} source and {len(target_labels)} target frames; "
                         "both sets need frames.")
    k_count = source_labels.shape[1]
    total = k_count * levels * per_level
    # A stream of its own ([seed, K] never names a semantic cell: those are [seed, k, level]).
    rng = np.random.default_rng([seed, k_count])
    source_index = _draw(rng, np.arange(len(source_labels)), total).astype(np.int64)
    target_index = _draw(rng, np.arange(len(target_labels)), total).astype(np.int64)
    labels = target_labels[target_index].astype(np.int32).reshape(-1, k_count)
    au = np.arange(total, dtype=np.int64) // (levels * per_level)
    return SynthesisPlan(source_index=source_index, target_index=target_index, target_labels=labels, au=au,
                         level=labels[np.arange(total), au].astype(np.int64), per_level=int(per_level),
                         skipped=())


def build(kind: str, source_labels: np.ndarray, target_labels: np.ndarray | None = None, *, per_level: int,
          seed: int = 0) -> SynthesisPlan:
    """The plan of ``kind`` (`PLANS`): `semantic_plan` or `natural_plan`."""
    if kind not in PLANS:
        raise ValueError(f"synthesis.plan={kind!r}: use one of {PLANS}.")
    make = semantic_plan if kind == "semantic" else natural_plan
    return make(source_labels, target_labels, per_level=per_level, seed=seed)
