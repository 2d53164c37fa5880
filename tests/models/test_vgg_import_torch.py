"""The torchvision ``.pth`` VGG16 import against torch itself (skipped, with the reason, without torch).

torch is not in the ``test`` extra: its CPU wheel (torch 2.13.0+cpu) is 192 MB for one importer path
whose conversion code is shared with the ``.npz`` route that `test_vgg_import.py` checks against
Keras. To run it: ``pip install --target DIR --no-deps torch==2.13.0+cpu`` and ``PYTHONPATH=DIR``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import vgg, vgg_import

torch = pytest.importorskip(
    "torch", reason="torch is not installed (not in the test extra: its CPU wheel is 192 MB); "
                    "the .pth reader of jaxau.models.vgg_import is untested here, its .npz twin is "
                    "checked against Keras in tests/models/test_vgg_import.py")

# torchvision's vgg16 ``features`` (configuration 'D'): 'M' = 2x2 max-pool.
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _torch_features():
    """torchvision.models.vgg16().features, rebuilt from torch.nn (same module indices), He-scaled."""
    torch.manual_seed(0)
    layers, channels = [], 3
    for v in CFG_D:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = torch.nn.Conv2d(channels, v, kernel_size=3, padding=1)
            torch.nn.init.normal_(conv.weight, 0.0, float(np.sqrt(2.0 / (9 * channels))))
            torch.nn.init.uniform_(conv.bias, -0.1, 0.1)
            layers += [conv, torch.nn.ReLU(inplace=True)]
            channels = v
    return torch.nn.Sequential(*layers).eval()


def test_pth_state_dict_gives_torchs_block5_features(tmp_path):
    """A torchvision-layout ``features.*`` state dict saved with ``torch.save`` imports into our
    VGG16, and our block5_pool on random images (``preprocessing='torch'``) equals torch's
    ``features`` output (NCHW -> NHWC) to float32 rounding."""
    features = _torch_features()
    assert [i for i, m in enumerate(features) if isinstance(m, torch.nn.Conv2d)] == list(
        vgg_import.TORCHVISION_CONV_INDICES)
    path = tmp_path / "vgg16_features.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)

    model = vgg.VGG16(num_aus=3, preprocessing="torch")
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))["params"]
    params = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    new, report = vgg_import.import_imagenet(params, str(path))
    assert report.source_format == "torchvision" and report.preprocessing == "torch"
    assert report.imported == vgg.CONV_LAYERS and [l for l, _ in report.skipped] == ["fc1", "fc2"]

    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    _, feats = model.apply({"params": new}, jnp.asarray(images), return_features=True)
    mean, std = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])
    with torch.no_grad():
        ref = features(torch.from_numpy(((images - mean) / std).transpose(0, 3, 1, 2).copy()))
    ref = ref.numpy().transpose(0, 2, 3, 1)
    assert ref.shape == (2, 1, 1, 512) and np.abs(ref).max() > 0.1
    np.testing.assert_allclose(np.asarray(feats["block5_pool"]), ref, rtol=1e-4,
                               atol=1e-4 * float(np.abs(ref).max()))


def test_classifier0_rows_follow_torchs_flatten_order():
    """torch's first classifier layer reads ``torch.flatten`` of an NCHW map; the importer's row
    permutation makes the same layer read our NHWC flatten: equal outputs on a 2x2x512 map."""
    torch.manual_seed(1)
    fmap = torch.randn(2, 512, 2, 2)
    linear = torch.nn.Linear(512 * 4, 8)
    with torch.no_grad():
        ref = linear(torch.flatten(fmap, 1)).numpy()
    kernel = vgg_import._chw_rows_to_hwc(linear.weight.detach().numpy().T, {}, "test")
    ours = fmap.numpy().transpose(0, 2, 3, 1).reshape(2, -1) @ kernel + linear.bias.detach().numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
