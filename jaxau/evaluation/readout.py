"""Read-out of per-AU 6-way softmax logits ([..., K, 6]) to an intensity 0..5.

The paper does not say how its one-hot outputs become intensities (metrics.md §2). ``'argmax'`` (the
default, the natural reading of a classifier) returns the most likely level as an integer;
``'expected'`` returns sum_l l * softmax(logits)_l, a continuous intensity that ICC/PCC can exploit
between levels. Both are pure ``jax.numpy`` and work under jit/vmap, and on numpy input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

READOUT_MODES = ("argmax", "expected")


def intensity_from_logits(logits, mode: str = "argmax") -> jnp.ndarray:
    """Intensity per AU from logits.

    Args:
      logits: [..., K, L] (L = 6 levels: absent, A..E).
      mode: 'argmax' (int32 level) or 'expected' (float32 expected level).

    Returns:
      [..., K] int32 ('argmax') or float32 ('expected').
    """
    logits = jnp.asarray(logits)
    if logits.ndim < 2:
        raise ValueError(f"logits must be [..., K, levels], got shape {logits.shape}.")
    if mode == "argmax":
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    if mode == "expected":
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
        levels = jnp.arange(logits.shape[-1], dtype=jnp.float32)
        return probs @ levels
    raise ValueError(f"Unknown read-out {mode!r}: use one of {READOUT_MODES}.")
