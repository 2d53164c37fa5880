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


def _lax_conv(x, w, pads):
    nsp = w.ndim - 2
    return jax.lax.conv_general_dilated(x, w, (1,) * nsp, pads,
                                        dimension_numbers=layers._dimension_numbers(nsp + 2))


def _agree_with_gradients(fast, ref, x, w, atol):
    y, y_ref = jax.jit(fast)(x, w), jax.jit(ref)(x, w)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, atol=atol, rtol=1e-5)
    cot = jnp.asarray(np.random.default_rng(9).normal(size=y.shape), jnp.float32)
    g = jax.jit(jax.grad(lambda x, w: jnp.sum(fast(x, w) * cot), argnums=(0, 1)))(x, w)
    g_ref = jax.jit(jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), argnums=(0, 1)))(x, w)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, atol=atol * 4, rtol=1e-5)


# (spatial size, kernel, padding, block): GANimation's 7x7 input layer and heads, VGG's 3x3 SAME,
# sizes that are not multiples of the block, uneven and zero padding, a 1-D and a 3-D case, block 3.
BLOCK_CONFIGS = [
    ((9, 8), (7, 7), ((3, 3), (3, 3)), 2),
    ((8, 8), (3, 3), "SAME", 2),
    ((11, 6), (4, 3), ((2, 1), (0, 2)), 3),
    ((7, 7), (3, 3), "VALID", 2),
    ((5, 5), (1, 1), ((0, 0), (0, 0)), 2),
    ((13,), (5,), ((1, 2),), 2),
    ((5, 4, 6), (3, 2, 3), ((1, 1), (0, 1), (2, 0)), 2),
    ((6, 6), (3, 3), "SAME", 4),
]


@pytest.mark.parametrize("size,k,pad,block", BLOCK_CONFIGS)
def test_blocked_conv_matches_lax_forward_and_gradients(size, k, pad, block):
    rng = np.random.default_rng(len(size) * 100 + sum(size) + block)
    x = jnp.asarray(rng.normal(size=(2,) + size + (3,)), jnp.float32)
    w = jnp.asarray(rng.normal(size=k + (3, 4)), jnp.float32)
    pads = (pad if not isinstance(pad, str)
            else tuple(jax.lax.padtype_to_pads(size, k, (1,) * len(size), pad)))
    _agree_with_gradients(lambda x, w: layers.conv(x, w, (1,) * len(size), pad, block=block),
                          lambda x, w: _lax_conv(x, w, pads), x, w, atol=5e-5)


def test_blocked_conv_tap_table_by_hand():
    # k=3, block 2: output 2Q+r reads input 2Q+r+t; offset s of block Q+D with 2D+s = r+t.
    t = layers._block_taps(3, 2)
    assert t.shape == (2, 2, 2)
    # D=0: s=0 <- (r=0, t=0); s=1 <- (r=0, t=1), (r=1, t=0). D=1: s=0 <- (r=0, t=2), (r=1, t=1).
    np.testing.assert_array_equal(t[0], [[0, 3], [1, 0]])
    np.testing.assert_array_equal(t[1], [[2, 1], [3, 2]])


@pytest.mark.parametrize("size,k,pad,factor", [
    ((5, 6), (3, 3), ((1, 1), (1, 1)), 2),   # the resize generator's upsampling layers
    ((4, 4), (4, 3), ((0, 2), (1, 0)), 2),
    ((3, 5), (5, 5), ((2, 2), (0, 0)), 3),
    ((7,), (3,), ((0, 0),), 2),
    ((3, 3), (1, 1), ((0, 0), (0, 0)), 2),
])
def test_upsample_conv_matches_repeat_then_conv(size, k, pad, factor):
    rng = np.random.default_rng(sum(size) + factor)
    x = jnp.asarray(rng.normal(size=(2,) + size + (3,)), jnp.float32)
    w = jnp.asarray(rng.normal(size=k + (3, 2)), jnp.float32)

    def ref(x, w):
        for axis in range(1, len(size) + 1):
            x = jnp.repeat(x, factor, axis=axis)
        return _lax_conv(x, w, pad)

    _agree_with_gradients(lambda x, w: layers.upsample_conv(x, w, factor, pad), ref, x, w,
                          atol=5e-5)


def test_conv_module_block_and_upsample_keep_flax_parameters():
    x = jnp.asarray(np.random.default_rng(6).normal(size=(2, 6, 6, 3)), jnp.float32)
    v = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1))).init(jax.random.key(0), x)
    up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    ref = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1))).apply(v, up)
    got = layers.Conv(4, (3, 3), padding=((1, 1), (1, 1)), upsample=2, block=2).apply(v, x)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    with pytest.raises(ValueError, match="upsample 2 needs stride 1 and explicit padding"):
        layers.Conv(4, (3, 3), padding="SAME", upsample=2).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="block 0 must be a positive int"):
        layers.conv(x, v["params"]["kernel"], (1, 1), "SAME", block=0)


def test_is_narrow_marks_the_measured_layers():
    # Faster over 2x2 blocks in the measurement of layers.NARROW_MAX_PRODUCT: G's 7x7 input layer
    # (10->16) and heads (16->4), VGG's first layers at width 1/8 and 1/4; slower: 16->16, 32->16,
    # VGG16's own first layer (3->64).
    assert all(layers.is_narrow(*c) for c in [(10, 16), (16, 4), (3, 8), (3, 16), (8, 8), (8, 16)])
    assert not any(layers.is_narrow(*c) for c in [(16, 16), (32, 16), (16, 32), (3, 64), (64, 4)])


def test_stride1_transposed_conv_over_blocks_matches_lax():
    rng = np.random.default_rng(11)
    x = jnp.asarray(rng.normal(size=(2, 9, 8, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(4, 4, 2, 3)), jnp.float32)  # TF layout (k, k, out, in)
    _agree_with_gradients(
        lambda x, w: layers.conv_transpose(x, w, (1, 1), "SAME", transpose_kernel=True, block=2),
        lambda x, w: jax.lax.conv_transpose(x, w, (1, 1), "SAME", transpose_kernel=True,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")),
        x, w, atol=5e-5)
