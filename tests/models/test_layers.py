"""The fast transposed convolution equals flax's ConvTranspose (forward and gradients) and PyTorch's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from jaxau.models import layers

# (kernel, stride, padding, transpose_kernel): PRNet's TF SAME layers, GANimation's PyTorch layer,
# and generic cases (VALID, stride > kernel, odd kernel, uneven explicit padding).
CONFIGS = [
    (4, 2, "SAME", True),                               # PRNet conv2d_transpose stride 2
    (4, 1, "SAME", True),                               # PRNet conv2d_transpose stride 1
    (4, 2, layers.torch_padding((4, 4), 1), True),      # GANimation ConvTranspose2d(k4, s2, p1)
    (3, 2, "VALID", False),
    (2, 3, "SAME", False),                              # stride > kernel: one phase has no taps
    (5, 3, ((1, 4), (0, 2)), True),
    (1, 3, "SAME", True),                               # 1x1 kernel: two empty phases
]


def _grads(module, params, x, cot):
    def loss(p, xx):
        return jnp.sum(module.apply({"params": p}, xx) * cot)
    # One jit per case: eager mode would compile every small op of the phase decomposition.
    return jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)


@pytest.mark.parametrize("k,s,pad,tk", CONFIGS)
def test_matches_flax_conv_transpose(k, s, pad, tk):
    rng = np.random.default_rng(k * 10 + s)
    x = jnp.asarray(rng.normal(size=(2, 5, 6, 3)), jnp.float32)
    ref = nn.ConvTranspose(4, (k, k), strides=(s, s), padding=pad, transpose_kernel=tk,
                           use_bias=True, bias_init=nn.initializers.normal(1.0))
    fast = layers.ConvTranspose(4, (k, k), strides=(s, s), padding=pad, transpose_kernel=tk,
                                use_bias=True)
    params = ref.init(jax.random.key(0), x)["params"]
    # Same parameter tree: official / flax weights load unchanged.
    fast_shapes = jax.eval_shape(fast.init, jax.random.key(0), x)["params"]
    assert jax.tree.map(lambda a: a.shape, fast_shapes) == jax.tree.map(lambda a: a.shape, params)
    y_ref = ref.apply({"params": params}, x)
    y = jax.jit(fast.apply)({"params": params}, x)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, atol=2e-5, rtol=1e-5)
    cot = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    (gp_ref, gx_ref), (gp, gx) = _grads(ref, params, x, cot), _grads(fast, params, x, cot)
    np.testing.assert_allclose(gx, gx_ref, atol=5e-5, rtol=1e-5)
    np.testing.assert_allclose(gp["kernel"], gp_ref["kernel"], atol=5e-5, rtol=1e-5)
    np.testing.assert_allclose(gp["bias"], gp_ref["bias"], atol=5e-5, rtol=1e-5)


def _torch_conv_transpose_reference(x, w, stride, padding, output_padding=0):
    """Brute-force scatter definition of torch.nn.functional.conv_transpose2d (NHWC in/out).

    out[n, s*i + kh - p, s*j + kw - p, o] += x[n, i, j, c] * w[c, o, kh, kw]; size (H-1)s - 2p + k + op.
    """
    n, h, wd, _ = x.shape
    c_out, k = w.shape[1], w.shape[2]
    ho = (h - 1) * stride - 2 * padding + k + output_padding
    wo = (wd - 1) * stride - 2 * padding + k + output_padding
    out = np.zeros((n, ho, wo, c_out))
    for i in range(h):
        for j in range(wd):
            for a in range(k):
                for b in range(k):
                    oi, oj = stride * i + a - padding, stride * j + b - padding
                    if 0 <= oi < ho and 0 <= oj < wo:
                        out[:, oi, oj, :] += x[:, i, j, :] @ w[:, :, a, b]
    return out


@pytest.mark.parametrize("k,s,p,op", [(4, 2, 1, 0), (3, 2, 1, 1), (4, 1, 1, 0)])
def test_matches_pytorch_definition(k, s, p, op):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 4, 5, 3))
    w_torch = rng.normal(size=(3, 4, k, k))  # PyTorch ConvTranspose2d weight: (in, out, kh, kw)
    expected = _torch_conv_transpose_reference(x, w_torch, s, p, op)
    y = layers.conv_transpose(jnp.asarray(x, jnp.float32),
                              jnp.asarray(w_torch.transpose(2, 3, 1, 0), jnp.float32), (s, s),
                              layers.torch_padding((k, k), p, op), transpose_kernel=True)
    np.testing.assert_allclose(y, expected, atol=1e-4, rtol=1e-5)


def test_ganimation_padding_is_same_and_doubles():
    assert layers.torch_padding((4, 4), 1) == ((2, 2), (2, 2))
    x = jnp.ones((1, 3, 5, 2))
    w = jnp.ones((4, 4, 6, 2))
    assert layers.conv_transpose(x, w, (2, 2), layers.torch_padding((4, 4), 1), True).shape == (
        1, 6, 10, 6)


def test_naive_impl_and_unbatched_input():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(4, 4, 2)), jnp.float32)
    fast = layers.ConvTranspose(3, (4, 4), strides=(2, 2), transpose_kernel=True)
    naive = layers.ConvTranspose(3, (4, 4), strides=(2, 2), transpose_kernel=True, impl="naive")
    v = fast.init(jax.random.key(1), x)
    y = fast.apply(v, x)
    assert y.shape == (8, 8, 3)
    np.testing.assert_allclose(y, naive.apply(v, x), atol=2e-5)


def test_bad_arguments_raise_clear_errors():
    x = jnp.ones((1, 4, 4, 3))
    with pytest.raises(ValueError, match="padding 'CIRCULAR'"):
        layers.conv_transpose(x, jnp.ones((4, 4, 3, 2)), (2, 2), "CIRCULAR")
    with pytest.raises(ValueError, match="input channels"):
        layers.conv_transpose(x, jnp.ones((4, 4, 2, 2)), (2, 2), "SAME")
    with pytest.raises(ValueError, match="impl"):
        layers.conv_transpose(x, jnp.ones((4, 4, 3, 2)), (2, 2), "SAME", impl="fft")


def test_instance_norm_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(loc=5.0, scale=3.0, size=(2, 4, 5, 3))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased, as PyTorch's InstanceNorm
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(layers.instance_norm(jnp.asarray(x, jnp.float32)), expected,
                               atol=1e-5)


# Strided convolutions: GANimation (k4 s2 p1; also the im2col path at tiny outputs), PRNet (TF SAME
# k4 s2, 1x1 s2 shortcut), odd kernels / sizes, stride 3, and stride-1 im2col (critic heads).
CONV_CONFIGS = [
    (4, 2, ((1, 1), (1, 1)), 16),  # 8x8 = 64 outputs: im2col path
    (4, 2, ((1, 1), (1, 1)), 18),  # 9x9 outputs: convolution path
    (4, 2, "SAME", 9),
    (1, 2, "SAME", 9),
    (3, 2, "SAME", 7),
    (5, 3, "VALID", 11),
    (3, 1, ((1, 1), (1, 1)), 4),
    (2, 1, "VALID", 2),            # AU head: kernel = map size -> 1x1 output
]


@pytest.mark.parametrize("k,s,pad,size", CONV_CONFIGS)
def test_conv_matches_lax_forward_and_gradients(k, s, pad, size):
    rng = np.random.default_rng(k * 100 + s * 10 + size)
    x = jnp.asarray(rng.normal(size=(2, size, size + 1, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(k, k, 3, 4)), jnp.float32)

    @jax.jit
    def ref(x, w):
        return jax.lax.conv_general_dilated(x, w, (s, s), pad,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    @jax.jit
    def fast(x, w):
        return layers.conv(x, w, (s, s), pad)

    y_ref, y = ref(x, w), fast(x, w)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, atol=2e-5, rtol=1e-5)
    cot = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    g_ref = jax.jit(jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), argnums=(0, 1)))(x, w)
    g = jax.jit(jax.grad(lambda x, w: jnp.sum(fast(x, w) * cot), argnums=(0, 1)))(x, w)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, atol=5e-5, rtol=1e-5)


def test_conv_module_is_flax_conv_compatible():
    x = jnp.asarray(np.random.default_rng(5).normal(size=(2, 8, 8, 3)), jnp.float32)
    ref = nn.Conv(4, (4, 4), (2, 2), padding=((1, 1), (1, 1)))
    fast = layers.Conv(4, (4, 4), (2, 2), padding=((1, 1), (1, 1)))
    v = ref.init(jax.random.key(0), x)
    np.testing.assert_allclose(fast.apply(v, x), ref.apply(v, x), atol=2e-5)
