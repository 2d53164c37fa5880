"""Import ImageNet VGG16 weights the user supplies into a :class:`jaxau.models.vgg.VGG16` tree.

No VGG16 weights ship with jaxau (assets.md); point these functions at a file you downloaded:

- Keras: ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (full) or ``..._notop.h5`` (conv only), the
  legacy Keras HDF5 layout (root attribute ``layer_names``; per layer a group with attribute
  ``weight_names`` naming its datasets, kernel then bias). A Keras 3 ``model.save_weights(
  'x.weights.h5')`` file (``layers/<layer>/vars/{0,1}``, layer name in the ``vars`` group's ``name``
  attribute) and a full-model ``.h5`` (weights under ``model_weights``) are read as well.
  Preprocessing for these weights: ``'caffe'``.
- torchvision: a VGG16 ``state_dict`` (``features.0.weight`` ... ``classifier.6.bias``) saved as
  ``.pth`` (needs torch importable) or as ``.npz`` with the same keys (``np.savez(path, **{k:
  v.numpy() for k, v in sd.items()})``). Conv kernels (out, in, kh, kw) become (kh, kw, in, out);
  linear weights (out, in) become (in, out); the rows of ``classifier.0`` are permuted from torch's
  NCHW flatten order to the model's NHWC order. Preprocessing for these weights: ``'torch'``.

The 1000-way ImageNet classifier (Keras ``predictions``, torchvision ``classifier.6``) is never
imported: the AU ``head`` keeps its fresh initialisation.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import numpy as np

from jaxau.models.vgg import CONV_LAYERS

# torchvision vgg16 ``features`` indices of the 13 convolutions (ReLU and max-pool in between).
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
TORCHVISION_DENSE = {"classifier.0": "fc1", "classifier.3": "fc2"}
IMPORTABLE_LAYERS = CONV_LAYERS + ("fc1", "fc2")


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What :func:`import_imagenet` did.

    Attributes:
      source_format: 'keras_h5', 'keras3_h5' or 'torchvision'.
      preprocessing: the input preprocessing these weights expect ('caffe' or 'torch'); build the
        model with it.
      imported: layer names copied from the file.
      skipped: (layer, reason) for layers left at their initialisation.
    """

    source_format: str
    preprocessing: str
    imported: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def _detect_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".h5", ".hdf5", ".keras")):
        return "keras"
    if lower.endswith((".pth", ".pt", ".npz")):
        return "torchvision"
    raise ValueError(f"Cannot tell the format of {path!r} from its extension: use a Keras .h5 or a "
                     "torchvision state dict as .pth/.npz, or pass fmt='keras'/'torchvision'.")


def _kernel_bias(arrays: list[np.ndarray], path: str, layer: str) -> dict[str, np.ndarray]:
    kernels = [a for a in arrays if a.ndim > 1]
    biases = [a for a in arrays if a.ndim == 1]
    if len(kernels) != 1 or len(biases) != 1:
        raise ValueError(f"{path}: layer {layer!r} should hold one kernel and one bias, found shapes "
                         f"{[a.shape for a in arrays]}.")
    return {"kernel": kernels[0], "bias": biases[0]}


def read_keras_h5(path: str) -> dict[str, dict[str, np.ndarray]]:
    """Reads VGG16 conv/fc weights from a Keras HDF5 weights file (layouts in the module docstring).

    Returns:
      {layer: {'kernel', 'bias'}} for the layers of ``IMPORTABLE_LAYERS`` the file holds, in Keras
      (= Flax) layout: conv (kh, kw, in, out), dense (in, out) with NHWC flatten order.
    """
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in root.attrs:  # Legacy Keras 1/2 layout (the official ImageNet files).
            for raw in root.attrs["layer_names"]:
                layer = raw.decode() if isinstance(raw, bytes) else str(raw)
                if layer not in IMPORTABLE_LAYERS:
                    continue
                group = root[layer]
                names = [n.decode() if isinstance(n, bytes) else str(n)
                         for n in group.attrs.get("weight_names", [])]
                arrays = [np.asarray(group[n]) for n in names]
                out[layer] = _kernel_bias(arrays, path, layer)
        elif "layers" in root:  # Keras 3 .weights.h5: layers/<auto name>/vars/<i>, name in attrs.
            for group in root["layers"].values():
                if "vars" not in group:
                    continue
                layer = group["vars"].attrs.get("name", "")
                layer = layer.decode() if isinstance(layer, bytes) else str(layer)
                if layer not in IMPORTABLE_LAYERS:
                    continue
                keys = sorted(group["vars"].keys(), key=int)
                out[layer] = _kernel_bias([np.asarray(group["vars"][k]) for k in keys], path, layer)
        else:
            raise ValueError(f"{path}: not a Keras weights file (no 'layer_names' attribute and no "
                             "'layers' group). Expected vgg16_weights_tf_dim_ordering_tf_kernels"
                             "[_notop].h5 or a Keras 3 model.save_weights() file.")
    if not out:
        raise ValueError(f"{path}: holds none of the VGG16 layers {list(IMPORTABLE_LAYERS)}; is it a "
                         "VGG16 weights file?")
    return out


def _load_state_dict(path: str) -> dict[str, np.ndarray]:
    if path.lower().endswith(".npz"):
        with np.load(path) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ImportError(
            f"Reading {path} needs torch, which is not installed. Convert the state dict on a machine "
            "with torch: np.savez('vgg16.npz', **{k: v.numpy() for k, v in "
            "torch.load('vgg16.pth').items()}) and pass the .npz.") from e
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, Mapping):
        raise ValueError(f"{path}: expected a state dict (mapping of tensors), got {type(sd).__name__}.")
    return {k: v.detach().cpu().numpy() for k, v in sd.items()}


def read_torchvision(path: str) -> dict[str, dict[str, np.ndarray]]:
    """Reads a torchvision VGG16 state dict (.pth or .npz) and converts it to the Flax layout.

    Returns:
      {layer: {'kernel', 'bias'}} like :func:`read_keras_h5` (fc1 rows in NHWC flatten order).
    """
    sd = _load_state_dict(path)
    # DataParallel checkpoints prefix every key with 'module.'.
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    out: dict[str, dict[str, np.ndarray]] = {}
    for layer, idx in zip(CONV_LAYERS, TORCHVISION_CONV_INDICES):
        w, b = sd.get(f"features.{idx}.weight"), sd.get(f"features.{idx}.bias")
        if w is None or b is None:
            continue
        if w.ndim != 4:
            raise ValueError(f"{path}: features.{idx}.weight should be (out, in, kh, kw), got {w.shape}; "
                             "is this a VGG16 (not VGG16-BN) state dict?")
        out[layer] = {"kernel": np.transpose(w, (2, 3, 1, 0)), "bias": b}
    for prefix, layer in TORCHVISION_DENSE.items():
        w, b = sd.get(f"{prefix}.weight"), sd.get(f"{prefix}.bias")
        if w is None or b is None:
            continue
        kernel = np.transpose(w)  # (in, out)
        if layer == "fc1":
            kernel = _chw_rows_to_hwc(kernel, out, path)
        out[layer] = {"kernel": kernel, "bias": b}
    if not out:
        raise ValueError(f"{path}: no torchvision VGG16 keys (features.0.weight ... classifier.3.bias) "
                         f"found; keys start with {sorted(sd)[:5]}.")
    return out


def _chw_rows_to_hwc(kernel: np.ndarray, convs: Mapping[str, Any], path: str) -> np.ndarray:
    """Permutes fc1 input rows from torch's (C, H, W) flatten order to NHWC's (H, W, C)."""
    channels = convs["block5_conv3"]["kernel"].shape[-1] if "block5_conv3" in convs else 512
    cells, rem = divmod(kernel.shape[0], channels)
    side = int(round(np.sqrt(cells)))
    if rem or side * side != cells:
        raise ValueError(f"{path}: classifier.0 has {kernel.shape[0]} inputs, not {channels} channels "
                         "times a square pooled map.")
    k = kernel.reshape(channels, side, side, -1).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(k.reshape(cells * channels, -1))


def read_imagenet_weights(path: str | os.PathLike, fmt: str = "auto"
                          ) -> tuple[dict[str, dict[str, np.ndarray]], str, str]:
    """Reads a VGG16 weights file in either format.

    Returns:
      (layers, source_format, preprocessing) with layers as in :func:`read_keras_h5`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"VGG16 weights file {path!r} does not exist. Download "
                                "vgg16_weights_tf_dim_ordering_tf_kernels[_notop].h5 (Keras) or a "
                                "torchvision vgg16 state dict and pass its path.")
    fmt = _detect_format(path) if fmt == "auto" else fmt
    if fmt == "keras":
        import h5py
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            source = "keras_h5" if "layer_names" in root.attrs else "keras3_h5"
        return read_keras_h5(path), source, "caffe"
    if fmt == "torchvision":
        return read_torchvision(path), "torchvision", "torch"
    raise ValueError(f"Unknown fmt {fmt!r}: use 'auto', 'keras' or 'torchvision'.")


def import_imagenet(params: Mapping[str, Any], path: str | os.PathLike, *, fmt: str = "auto",
                    include_top: bool | str = "auto") -> tuple[dict[str, Any], ImportReport]:
    """Copies ImageNet weights from ``path`` into a VGG16 parameter tree; the AU head stays as is.

    Args:
      params: the model's params (``variables['params']``) or the whole variables dict.
      path: Keras .h5 or torchvision .pth/.npz file.
      fmt: 'auto' (by extension), 'keras' or 'torchvision'.
      include_top: import fc1/fc2 too: True (error if the file lacks them or their shapes differ,
        e.g. input not 224x224), False (conv layers only), 'auto' (when present and shape-compatible).

    Returns:
      (new params with the same structure, :class:`ImportReport`). Build the model with
      ``preprocessing=report.preprocessing``.

    Raises:
      ValueError: a conv layer's shape differs (width multiplier != 1), or a required layer is missing.
    """
    path = os.fspath(path)
    if include_top not in (True, False, "auto"):
        raise ValueError(f"include_top must be True, False or 'auto', got {include_top!r}.")
    wrapped = "params" in params and "block1_conv1" not in params
    tree = dict(params["params"] if wrapped else params)
    missing_model = [l for l in IMPORTABLE_LAYERS if l not in tree]
    if missing_model:
        raise ValueError(f"params lack VGG16 layers {missing_model}; pass VGG16(...).init(...)['params'].")
    layers, source, preprocessing = read_imagenet_weights(path, fmt)
    imported, skipped = [], []
    top_fits = all(l in layers and all(tuple(layers[l][n].shape) == tuple(tree[l][n].shape)
                                       for n in ("kernel", "bias")) for l in ("fc1", "fc2"))
    for layer in IMPORTABLE_LAYERS:
        dense = layer in ("fc1", "fc2")
        if dense and include_top is False:
            skipped.append((layer, "include_top=False"))
            continue
        if dense and include_top == "auto" and not top_fits:
            # fc2 alone (its 4096x4096 shape fits any input size) is meaningless without fc1.
            skipped.append((layer, "fc1/fc2 not both in the file with the model's shapes "
                                   "(notop weights, or input not 224x224)"))
            continue
        if layer not in layers:
            raise ValueError(f"{path}: has no weights for layer {layer!r} (it holds {sorted(layers)}).")
        new = {}
        for name in ("kernel", "bias"):
            target = tree[layer][name]
            value = layers[layer][name]
            if tuple(value.shape) != tuple(target.shape):
                hint = ("fc1's input size fixes the image size (224x224 for ImageNet weights); use "
                        "include_top=False for other sizes" if dense else
                        "ImageNet weights need width=1.0")
                raise ValueError(f"{path}: {layer}/{name} has shape {value.shape} in the file but "
                                 f"{tuple(target.shape)} in the model: {hint}.")
            new[name] = np.asarray(value, dtype=target.dtype)
        tree[layer] = {**tree[layer], **new}
        imported.append(layer)
    report = ImportReport(source, preprocessing, tuple(imported), tuple(skipped))
    return ({**params, "params": tree} if wrapped else tree), report
