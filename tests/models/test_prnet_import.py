"""PRNet checkpoint import against an independent TensorFlow implementation of the original graph.

The TF side is written from PRNet's ``predictor.py`` description (reference/architectures.md §1.2)
with tf.nn.conv2d / tf.nn.conv2d_transpose (padding 'SAME') and inference batch norm, saved with
``tf.compat.v1.train.Saver`` under the official variable names (plus Adam slots and beta powers, as
in the released file). It is also the independent check of our transposed-conv padding equivalence.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import prnet_import
from jaxau.models.prnet import PRNet

tf = pytest.importorskip("tensorflow")

SIZE, WIDTH, BATCH = 64, 4, 2


def _official_layers(width):
    """(scope, kind, k, stride, c_in, c_out, bn) in PRNet order, with PRNet's scope names."""
    out = [("Conv", "conv", 4, 1, 3, width, True)]
    c = width
    blocks = [(2, 2), (2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1)]
    for i, (m, s) in enumerate(blocks):
        scope = "resBlock" if i == 0 else f"resBlock_{i}"
        o = m * width
        if s != 1 or c != o:
            out.append((f"{scope}/shortcut", "conv", 1, s, c, o, False))
        out += [(f"{scope}/Conv", "conv", 1, 1, c, o // 2, True),
                (f"{scope}/Conv_1", "conv", 4, s, o // 2, o // 2, True),
                (f"{scope}/Conv_2", "conv", 1, 1, o // 2, o, False),
                (f"{scope}", "bn_only", 0, 0, o, o, True)]
        c = o
    ups = [(32, 1), (16, 2), (16, 1), (16, 1), (8, 2), (8, 1), (8, 1), (4, 2), (4, 1), (4, 1),
           (2, 2), (2, 1), (1, 2), (1, 1)]
    chans = [m * width for m, _ in ups] + [3, 3, 3]
    strides = [s for _, s in ups] + [1, 1, 1]
    for i, (o, s) in enumerate(zip(chans, strides)):
        scope = "Conv2d_transpose" if i == 0 else f"Conv2d_transpose_{i}"
        out.append((scope, "convT", 4, s, c, o, True))
        c = o
    return out


def _random_checkpoint_values(width, rng):
    values = {}
    for scope, kind, k, _, c_in, c_out, bn in _official_layers(width):
        name = f"resfcn256/{scope}"
        if kind == "conv":
            values[f"{name}/weights"] = rng.normal(0, np.sqrt(2.0 / (k * k * c_in)),
                                                   (k, k, c_in, c_out))
        elif kind == "convT":  # TF conv2d_transpose filter: [k, k, out, in]
            values[f"{name}/weights"] = rng.normal(0, np.sqrt(2.0 / (k * k * c_in)),
                                                   (k, k, c_out, c_in))
        if bn:
            values[f"{name}/BatchNorm/gamma"] = rng.uniform(0.5, 1.5, c_out)
            values[f"{name}/BatchNorm/beta"] = rng.normal(0, 0.2, c_out)
            values[f"{name}/BatchNorm/moving_mean"] = rng.normal(0, 0.2, c_out)
            values[f"{name}/BatchNorm/moving_variance"] = rng.uniform(0.5, 2.0, c_out)
    return {k: v.astype(np.float32) for k, v in values.items()}


def _tf_forward(images, v, width):
    """The original graph at inference: conv -> BN -> act, residual adds, sigmoid at the end."""
    def bn(x, name):
        return tf.nn.batch_normalization(x, v[f"{name}/BatchNorm/moving_mean"],
                                         v[f"{name}/BatchNorm/moving_variance"],
                                         v[f"{name}/BatchNorm/beta"], v[f"{name}/BatchNorm/gamma"],
                                         1e-3)

    x = tf.constant(images)
    layer_list = _official_layers(width)
    i = 0
    shortcut = None
    while i < len(layer_list):
        scope, kind, k, s, c_in, c_out, has_bn = layer_list[i]
        name = f"resfcn256/{scope}"
        if scope.startswith("resBlock") and scope.endswith("/shortcut"):
            shortcut = tf.nn.conv2d(x, v[f"{name}/weights"], s, "SAME")
        elif scope.startswith("resBlock") and scope.endswith("/Conv"):
            if shortcut is None:
                shortcut = x
            block_in = x
            y = tf.nn.relu(bn(tf.nn.conv2d(block_in, v[f"{name}/weights"], s, "SAME"), name))
            _, _, _, s1, _, _, _ = layer_list[i + 1]
            n1 = f"resfcn256/{layer_list[i + 1][0]}"
            y = tf.nn.relu(bn(tf.nn.conv2d(y, v[f"{n1}/weights"], s1, "SAME"), n1))
            n2 = f"resfcn256/{layer_list[i + 2][0]}"
            y = tf.nn.conv2d(y, v[f"{n2}/weights"], 1, "SAME")
            x = tf.nn.relu(bn(y + shortcut, f"resfcn256/{layer_list[i + 3][0]}"))
            shortcut = None
            i += 4
            continue
        elif kind == "conv":
            x = tf.nn.relu(bn(tf.nn.conv2d(x, v[f"{name}/weights"], s, "SAME"), name))
        elif kind == "convT":
            shape = tf.shape(x)
            out_shape = tf.stack([shape[0], shape[1] * s, shape[2] * s, c_out])
            y = bn(tf.nn.conv2d_transpose(x, v[f"{name}/weights"], out_shape, s, "SAME"), name)
            x = tf.nn.sigmoid(y) if i == len(layer_list) - 1 else tf.nn.relu(y)
        i += 1
    return x.numpy()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    rng = np.random.default_rng(0)
    values = _random_checkpoint_values(WIDTH, rng)
    variables = {name: tf.Variable(value, name=name) for name, value in values.items()}
    # Training state present in the released file: must be ignored.
    first = "resfcn256/Conv/weights"
    variables[first + "/Adam"] = tf.Variable(np.zeros_like(values[first]))
    variables[first + "/Adam_1"] = tf.Variable(np.zeros_like(values[first]))
    variables["beta1_power"] = tf.Variable(0.9)
    variables["beta2_power"] = tf.Variable(0.999)
    prefix = str(tmp_path_factory.mktemp("prnet") / prnet_import.CHECKPOINT_NAME)
    tf.compat.v1.train.Saver(var_list=variables).save(None, prefix, write_meta_graph=False)
    return prefix, values


def test_saved_checkpoint_uses_official_names(checkpoint):
    prefix, _ = checkpoint
    names = dict(tf.train.list_variables(prefix))
    assert names["resfcn256/Conv/weights"] == [4, 4, 3, WIDTH]
    assert names["resfcn256/Conv2d_transpose_1/weights"] == [4, 4, 16 * WIDTH, 32 * WIDTH]
    assert "resfcn256/resBlock_9/BatchNorm/moving_variance" in names


def test_import_matches_tf_forward(checkpoint):
    prefix, values = checkpoint
    model = PRNet(size=SIZE, width=WIDTH)
    variables = prnet_import.load_prnet_weights(prefix, model)
    images = np.random.default_rng(1).uniform(0, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    expected = _tf_forward(images, values, WIDTH)
    # Guard against a vacuous comparison: the sigmoid output must not be saturated.
    assert 0.05 < expected.std() and np.mean((expected > 0.02) & (expected < 0.98)) > 0.5
    scaled = jax.jit(model.apply)(variables, images)  # sigmoid x max_pos = 1.1 x size
    np.testing.assert_allclose(np.asarray(scaled) / (1.1 * SIZE), expected, atol=1e-4)


def test_mismatch_is_reported_with_names(checkpoint):
    _, values = checkpoint
    template = jax.eval_shape(PRNet(size=SIZE, width=WIDTH).init, jax.random.key(0),
                              jnp.zeros((1, SIZE, SIZE, 3)))
    broken = dict(values)
    del broken["resfcn256/resBlock_3/Conv_1/weights"]
    broken["resfcn256/extra/weights"] = np.zeros((1,), np.float32)
    broken["resfcn256/Conv/weights"] = np.zeros((3, 3, 3, WIDTH), np.float32)
    with pytest.raises(ValueError) as err:
        prnet_import.convert_prnet_variables(broken, template)
    msg = str(err.value)
    assert "missing (1): params/resBlock_3/Conv_1/weights" in msg
    assert "unexpected (1): resfcn256/extra/weights" in msg
    assert "resfcn256/Conv/weights: checkpoint (3, 3, 3, 4) vs model (4, 4, 3, 4)" in msg


def test_missing_data_shard_names_the_download(tmp_path):
    (tmp_path / "256_256_resfcn256_weight.index").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="README"):
        prnet_import.resolve_checkpoint_prefix(str(tmp_path))


def test_name_mapping():
    assert prnet_import.tf_name_to_path("resfcn256/resBlock_2/Conv_1/BatchNorm/moving_mean") == (
        "batch_stats", "resBlock_2", "Conv_1", "BatchNorm", "mean")
    assert prnet_import.tf_name_to_path("resfcn256/resBlock/BatchNorm/gamma") == (
        "params", "resBlock", "BatchNorm", "scale")
    assert prnet_import.tf_name_to_path("resfcn256/Conv2d_transpose_4/weights/Adam_1") is None
    assert prnet_import.tf_name_to_path("beta2_power") is None
