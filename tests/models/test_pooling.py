import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import pooling


def reference_pool(x):
    return nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")


def numpy_pool_and_grad(x, dy):
    """Brute force: per window, the max and a one-hot on the first maximum in row-major order."""
    b, h, w, c = x.shape
    y = np.zeros((b, h // 2, w // 2, c), x.dtype)
    dx = np.zeros_like(x)
    for n in range(b):
        for i in range(h // 2):
            for j in range(w // 2):
                for k in range(c):
                    win = x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, k].ravel()
                    a = int(np.argmax(win))  # np.argmax returns the first maximum
                    y[n, i, j, k] = win[a]
                    dx[n, 2 * i + a // 2, 2 * j + a % 2, k] += dy[n, i, j, k]
    return y, dx


@pytest.fixture(scope="module")
def tied_input():
    rng = np.random.default_rng(0)
    # Small integers make ties frequent; a ReLU makes all-zero windows (the common tie in VGG).
    x = np.maximum(rng.integers(-3, 3, size=(2, 7, 9, 3)), 0).astype(np.float32)
    dy = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    return x, dy


def test_values_and_gradient_match_numpy_and_select_and_scatter(tied_input):
    x, dy = tied_input
    ours, vjp = jax.vjp(pooling.max_pool_2x2, jnp.asarray(x))
    ref, ref_vjp = jax.vjp(reference_pool, jnp.asarray(x))
    y_np, dx_np = numpy_pool_and_grad(x[:, :6, :8], dy)
    np.testing.assert_array_equal(ours, y_np)
    np.testing.assert_array_equal(ours, ref)
    (dx,) = vjp(jnp.asarray(dy))
    (dx_ref,) = ref_vjp(jnp.asarray(dy))
    # Odd trailing row/column (7x9 input): pooled over the 6x8 part, zero gradient outside.
    np.testing.assert_array_equal(dx[:, :6, :8], dx_np)
    np.testing.assert_array_equal(dx[:, 6:], 0.0)
    np.testing.assert_array_equal(dx[:, :, 8:], 0.0)
    np.testing.assert_array_equal(dx, dx_ref)  # XLA's select_and_scatter, ties included
    # Ties were actually exercised: some window has several maxima.
    win = x[:, :6, :8].reshape(2, 3, 2, 4, 2, 3)
    assert ((win == win.max(axis=(2, 4), keepdims=True)).sum(axis=(2, 4)) > 1).any()


def test_finite_differences_and_transforms():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(1, 4, 6, 2)), jnp.float64 if jax.config.x64_enabled else jnp.float32)
    w = jnp.asarray(rng.normal(size=(1, 2, 3, 2)), x.dtype)

    def f(x):
        return jnp.sum(jnp.sin(pooling.max_pool_2x2(x)) * w)

    g = jax.jit(jax.grad(f))(x)
    eps = 1e-3
    flat = np.asarray(x).ravel()
    fd = np.zeros_like(flat)
    for i in range(flat.size):  # distinct values: the max is locally fixed, f is smooth
        e = np.zeros_like(flat)
        e[i] = eps
        fd[i] = (f(jnp.asarray((flat + e).reshape(x.shape))) -
                 f(jnp.asarray((flat - e).reshape(x.shape)))) / (2 * eps)
    np.testing.assert_allclose(np.asarray(g).ravel(), fd, atol=2e-3)
    # vmap over an extra leading axis equals the per-item call.
    xs = jnp.stack([x, 2 * x, -x])
    np.testing.assert_array_equal(jax.vmap(pooling.max_pool_2x2)(xs),
                                  jnp.stack([pooling.max_pool_2x2(v) for v in xs]))


def test_bfloat16_and_nan_forward():
    x = jnp.asarray([[1.0, 2.0], [3.0, 0.5]], jnp.bfloat16).reshape(1, 2, 2, 1)
    assert pooling.max_pool_2x2(x).dtype == jnp.bfloat16
    assert float(pooling.max_pool_2x2(x)[0, 0, 0, 0]) == 3.0
    xn = jnp.asarray([1.0, jnp.nan, 3.0, 0.5]).reshape(1, 2, 2, 1)
    assert np.isnan(pooling.max_pool_2x2(xn)[0, 0, 0, 0])
    assert np.isnan(reference_pool(xn)[0, 0, 0, 0])


def test_bad_input_errors():
    with pytest.raises(ValueError, match="NHWC"):
        pooling.max_pool_2x2(jnp.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="H, W >= 2"):
        pooling.max_pool_2x2(jnp.zeros((1, 1, 4, 3)))
