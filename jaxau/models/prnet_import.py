"""Import the released PRNet TF1 checkpoint (``256_256_resfcn256_weight``) into :class:`PRNet` variables.

The checkpoint is user-supplied: only ``256_256_resfcn256_weight.index`` is in yfeng95/PRNet; the
``.data-00000-of-00001`` shard is a Google Drive / Baidu download linked from its README. Names are
``resfcn256/<layer>/weights`` and ``resfcn256/<layer>/BatchNorm/{gamma,beta,moving_mean,
moving_variance}``; Adam slots (``.../Adam``, ``.../Adam_1``) and ``beta1_power`` / ``beta2_power``
are training state and are ignored. Our parameter names mirror the scopes (see
:mod:`jaxau.models.prnet`), so the mapping is mechanical and every shape is checked.

Reading uses ``tf.train.load_checkpoint`` (TensorFlow is imported lazily, only by
:func:`read_tf_checkpoint`); :func:`convert_prnet_variables` is TF-free.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import jax
import numpy as np

from jaxau.models.prnet import PRNet

TF_SCOPE = "resfcn256"
CHECKPOINT_NAME = "256_256_resfcn256_weight"
_BN_NAMES = {"gamma": ("params", "scale"), "beta": ("params", "bias"),
             "moving_mean": ("batch_stats", "mean"), "moving_variance": ("batch_stats", "var")}
# Training-only state in the released checkpoint.
_IGNORED = re.compile(r"(^|/)(Adam|Adam_\d+)$|(^|/)beta[12]_power$|(^|/)global_step$")


def tf_name_to_path(name: str) -> tuple[str, ...] | None:
    """Maps a checkpoint variable name to a ``(collection, *module_path, leaf)`` path.

    Args:
      name: e.g. ``'resfcn256/resBlock_2/Conv_1/BatchNorm/moving_mean'``.

    Returns:
      e.g. ``('batch_stats', 'resBlock_2', 'Conv_1', 'BatchNorm', 'mean')``; None for optimizer state
      (ignored). Names outside the ``resfcn256`` scope or with unknown leaves map to a path that will
      not exist in the template, so they are reported as unexpected.
    """
    if _IGNORED.search(name):
        return None
    parts = name.split("/")
    if parts[0] == TF_SCOPE:
        parts = parts[1:]
    *scope, leaf = parts
    if leaf == "weights":
        return ("params", *scope, "weights")
    if leaf in _BN_NAMES and scope and scope[-1] == "BatchNorm":
        collection, ours = _BN_NAMES[leaf]
        return (collection, *scope, ours)
    return ("unknown", *parts)


def convert_prnet_variables(tf_variables: Mapping[str, np.ndarray], template: Any) -> dict:
    """Builds ``{'params', 'batch_stats'}`` for a PRNet from checkpoint arrays.

    Args:
      tf_variables: checkpoint name -> array (e.g. from :func:`read_tf_checkpoint`).
      template: the model's variables or their shapes (``jax.eval_shape(model.init, ...)``); fixes the
        architecture (size / width) the checkpoint must match.

    Returns:
      Nested dict of float32 numpy arrays with the template's structure.

    Raises:
      ValueError: listing every missing variable, unexpected variable and shape mismatch.
    """
    flat_template = {tuple(getattr(k, "key", k) for k in path): leaf for path, leaf in
                     jax.tree_util.tree_flatten_with_path(
                         {c: template[c] for c in ("params", "batch_stats")})[0]}
    out: dict[tuple[str, ...], np.ndarray] = {}
    unexpected, mismatched, seen = [], [], set()
    for name, value in sorted(tf_variables.items()):
        path = tf_name_to_path(name)
        if path is None:
            continue
        if path not in flat_template:
            unexpected.append(name)
            continue
        seen.add(path)
        want = tuple(flat_template[path].shape)
        value = np.asarray(value)
        if tuple(value.shape) != want:
            mismatched.append(f"{name}: checkpoint {tuple(value.shape)} vs model {want} "
                              f"({'/'.join(path)})")
            continue
        out[path] = value.astype(np.float32)
    missing = ["/".join(p) for p in flat_template if p not in seen]
    if missing or unexpected or mismatched:
        lines = ["PRNet checkpoint does not match the model (check PRNet size/width; the released "
                 "weights need PRNet(size=256, width=16)):"]
        for title, items in (("missing", missing), ("unexpected", unexpected),
                             ("shape mismatch", mismatched)):
            if items:
                shown = items[:20] + ([f"... and {len(items) - 20} more"] if len(items) > 20 else [])
                lines.append(f"  {title} ({len(items)}): " + "; ".join(shown))
        raise ValueError("\n".join(lines))
    nested: dict = {}
    for path, value in out.items():
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return nested


def resolve_checkpoint_prefix(path: str) -> str:
    """Accepts a checkpoint prefix, its ``.index`` file, or the folder holding it (``Data/net-data``).

    Raises:
      FileNotFoundError: naming the expected files, and that the ``.data`` shard is user-supplied.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_NAME)
    for suffix in (".index", ".data-00000-of-00001"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    index, data = path + ".index", path + ".data-00000-of-00001"
    if not os.path.exists(index):
        raise FileNotFoundError(f"PRNet checkpoint index {index!r} not found: pass the prefix of "
                                f"'{CHECKPOINT_NAME}.index' (yfeng95/PRNet Data/net-data).")
    if not os.path.exists(data):
        raise FileNotFoundError(
            f"PRNet checkpoint data shard {data!r} not found. Only the .index file is in the PRNet "
            "repository; download '256_256_resfcn256_weight.data-00000-of-00001' from the link in "
            "yfeng95/PRNet's README and put it next to the .index file.")
    return path


def read_tf_checkpoint(path: str) -> dict[str, np.ndarray]:
    """Reads every variable of a TF checkpoint with ``tf.train.load_checkpoint``.

    Args:
      path: checkpoint prefix, its ``.index`` file, or its folder.

    Returns:
      name -> numpy array.
    """
    prefix = resolve_checkpoint_prefix(path)
    import tensorflow as tf  # Lazy: ~4 s import, only needed here.

    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def load_prnet_weights(path: str, model: Any = None) -> dict:
    """Loads the released (or any same-named) PRNet checkpoint as variables for ``model``.

    Args:
      path: checkpoint prefix, ``.index`` file or folder.
      model: a :class:`jaxau.models.prnet.PRNet`; defaults to ``PRNet()`` (256, width 16).

    Returns:
      ``{'params': ..., 'batch_stats': ...}`` usable as ``model.apply(variables, images)``.
    """
    if model is None:
        model = PRNet()
    import jax.numpy as jnp

    template = jax.eval_shape(model.init, jax.random.key(0),
                              jnp.zeros((1, model.size, model.size, 3), jnp.float32))
    return convert_prnet_variables(read_tf_checkpoint(path), template)
