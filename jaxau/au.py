"""Action-unit naming and label conventions shared by every dataset, model and metric.

Labels everywhere are integer intensities 0..5 (0 = absent, 1..5 = FACS levels A..E) and -1 for
unknown / unlabelled. AU names are zero-padded: ``AU01``, ``AU04``, ``AU12``. Every dataset has
the splits :data:`SPLITS`.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

SPLITS = ("train", "validation", "test")
UNKNOWN = -1
NUM_LEVELS = 6  # 0 (absent) and A..E.
LEVEL_NAMES = ("0", "A", "B", "C", "D", "E")

# FERA 2017 intensity AUs (paper Sec. 4.1) and DISFA's 12 AUs (datasets.md §4).
FERA2017_AUS = ("AU01", "AU04", "AU06", "AU10", "AU12", "AU14", "AU17")
DISFA_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20",
             "AU25", "AU26")
BP4D_INTENSITY_AUS = ("AU06", "AU10", "AU12", "AU14", "AU17")
# OpenFace 2 intensity outputs (AUxx_r), the columns of our per-frame CSV.
OPENFACE_INTENSITY_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
                          "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")

# Every AU jaxau knows a FACS name for (used to validate configs).
FACS_NAMES = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU10": "upper lip raiser", "AU11": "nasolabial deepener",
    "AU12": "lip corner puller", "AU13": "sharp lip puller", "AU14": "dimpler",
    "AU15": "lip corner depressor", "AU16": "lower lip depressor", "AU17": "chin raiser",
    "AU18": "lip pucker", "AU20": "lip stretcher", "AU22": "lip funneler", "AU23": "lip tightener",
    "AU24": "lip pressor", "AU25": "lips part", "AU26": "jaw drop", "AU27": "mouth stretch",
    "AU28": "lip suck", "AU43": "eyes closed", "AU45": "blink",
}

_AU_RE = re.compile(r"^(?:AU)?0*(\d{1,2})$", re.IGNORECASE)


def canonical_au(name: str | int) -> str:
    """Returns the canonical ``AUxx`` spelling of an AU given as ``1``, ``'au1'``, ``'AU01'``...

    Raises:
      ValueError: if ``name`` is not an AU we know, naming the accepted spellings.
    """
    m = _AU_RE.match(str(name).strip())
    if m is None:
        raise ValueError(f"Unknown AU {name!r}: use names like 'AU01', 'AU12' (known: "
                         f"{', '.join(sorted(FACS_NAMES))}).")
    canonical = f"AU{int(m.group(1)):02d}"
    if canonical not in FACS_NAMES:
        raise ValueError(f"Unknown AU {name!r}: known AUs are {', '.join(sorted(FACS_NAMES))}.")
    return canonical


def canonical_aus(names: Iterable[str | int]) -> tuple[str, ...]:
    """Canonicalises a list of AU names, rejecting duplicates."""
    out = tuple(canonical_au(n) for n in names)
    if len(set(out)) != len(out):
        raise ValueError(f"Duplicate AU names in {list(names)!r}.")
    return out


def parse_aus(text: str) -> list[str]:
    """A config's AU list as written (``'AU01,AU04'`` or ``'AU01 AU04'``) -> ``['AU01', 'AU04']``."""
    return [a for a in str(text).replace(",", " ").split() if a]


def shared_aus(*au_sets: Sequence[str]) -> tuple[str, ...]:
    """AUs present in every given set, in the order of the first set.

    The common vocabulary of a cross-domain experiment: FERA 2017 -> DISFA evaluates
    AU01 AU04 AU06 AU12 AU17 (paper Table 4).
    """
    if not au_sets:
        return ()
    sets = [set(canonical_aus(s)) for s in au_sets[1:]]
    return tuple(a for a in canonical_aus(au_sets[0]) if all(a in s for s in sets))


def select_aus(labels: np.ndarray, names: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Picks the columns ``wanted`` out of ``labels[..., len(names)]``.

    Raises:
      KeyError: naming the AUs of ``wanted`` that ``names`` lacks.
    """
    names = canonical_aus(names)
    wanted = canonical_aus(wanted)
    missing = [a for a in wanted if a not in names]
    if missing:
        raise KeyError(f"AUs {missing} are not labelled in this dataset (it has {list(names)}).")
    idx = [names.index(a) for a in wanted]
    return np.asarray(labels)[..., idx]


def code_to_label(code: np.ndarray | int) -> np.ndarray:
    """Maps raw dataset intensity codes to jaxau labels: 0..5 kept, anything else (9) -> -1."""
    code = np.asarray(code)
    return np.where((code >= 0) & (code <= 5), code, UNKNOWN).astype(np.int32)


def level_from_intensity(intensity: np.ndarray, thresholds: Sequence[float] = (0.5, 1.5, 2.5, 3.5, 4.5)
                         ) -> np.ndarray:
    """Quantises a continuous intensity in [0, 5] to integer levels 0..5 by ``thresholds``."""
    return np.searchsorted(np.asarray(thresholds), np.asarray(intensity), side="right").astype(np.int32)
