"""Fixed-size batching for jitted inference: every call sees one shape, so it compiles once."""

from __future__ import annotations

from typing import Callable

import numpy as np


def map_padded(fn: Callable[[np.ndarray], np.ndarray], items: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``fn`` over ``items`` in batches of exactly ``batch_size`` (the last one zero-padded).

    Returns the per-batch outputs as numpy arrays with the padding rows removed (concatenate them);
    an empty ``items`` gives an empty list.
    """
    out = []
    for lo in range(0, len(items), batch_size):
        chunk = items[lo:lo + batch_size]
        pad = batch_size - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
        out.append(np.asarray(fn(chunk))[:batch_size - pad])
    return out
