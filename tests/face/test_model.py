"""Face model: AU mapping, per-level response, locality/monotonicity of every AU, identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.face import asset as asset_lib
from jaxau.face import au_mapping, model
from jaxau.face.asset import PART_SKIN


@pytest.fixture(scope="module")
def fm():
    return model.FaceModel(asset_lib.load_asset())


def _regions(a):
    v, skin = a.vertices, a.vertex_part == PART_SKIN
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    ax = np.abs(x)
    return {
        "brows": skin & (y > 0.12) & (y < 0.3) & (z > -0.1),
        "lids": skin & (np.abs(y) < 0.12) & (ax > 0.15) & (ax < 0.5) & (z > -0.2),
        "cheeks": skin & (y > -0.35) & (y < -0.05) & (ax > 0.15) & (ax < 0.55),
        "nose": skin & (ax < 0.25) & (y > -0.5) & (y < 0.05),
        "mouth": skin & (y < -0.55) & (y > -0.8) & (ax < 0.35),
        "forehead": skin & (y > 0.35),
        "lower_face": skin & (y < -0.55),
        "chin_neck": skin & (y < -0.9),
    }


# AU -> (its own region, a far region that must stay still).
AU_REGIONS = {
    "AU01": ("brows", "lower_face"), "AU02": ("brows", "lower_face"), "AU04": ("brows", "lower_face"),
    "AU05": ("lids", "lower_face"), "AU07": ("lids", "chin_neck"), "AU45": ("lids", "lower_face"),
    "AU06": ("cheeks", "forehead"), "AU09": ("nose", "chin_neck"),  # AU09 also lowers the inner brows
    **{a: ("mouth", "forehead") for a in ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23",
                                          "AU24", "AU25", "AU26")},
}


def test_response_levels_hand_values():
    r = np.asarray(au_mapping.response(jnp.arange(6.0)))
    np.testing.assert_allclose(r, au_mapping.LEVEL_RESPONSE, atol=1e-6)
    # Linear between level centres, clipped outside [0, 5].
    np.testing.assert_allclose(float(au_mapping.response(jnp.float32(2.5))), 0.51, atol=1e-6)
    assert float(au_mapping.response(jnp.float32(-1.0))) == 0.0
    assert float(au_mapping.response(jnp.float32(7.0))) == 1.0
    # numpy in, numpy out (used by the sequence code without jax tracing).
    assert isinstance(au_mapping.response(np.array([1.0], np.float32)), np.ndarray)


def test_mapping_matrix_hand_case(fm):
    m = au_mapping.mapping_matrix(("AU12", "AU26"), fm.asset.blendshape_names)
    names = fm.asset.blendshape_names
    assert m[0, names.index("mouthSmileLeft")] == np.float32(0.85)
    assert m[0, names.index("mouthSmileRight")] == np.float32(0.85)
    assert m[1, names.index("jawOpen")] == np.float32(0.45)
    assert np.count_nonzero(m) == 3
    with pytest.raises(KeyError, match="AU11"):
        au_mapping.mapping_matrix(("AU11",), names)


def test_every_labelled_au_is_simulated():
    from jaxau import au
    assert set(au.FERA2017_AUS) <= set(au_mapping.SIMULATED_AUS)
    assert set(au.DISFA_AUS) <= set(au_mapping.SIMULATED_AUS)


@pytest.mark.parametrize("au", sorted(AU_REGIONS))
def test_au_moves_own_region_monotonically_and_far_region_not(fm, au):
    regions = _regions(fm.asset)
    own, far = AU_REGIONS[au]
    k = fm.aus.index(au)
    levels = np.zeros((6, len(fm.aus)), np.float32)
    levels[:, k] = np.arange(6)
    d = np.linalg.norm(np.asarray(fm.expression_offsets(jnp.asarray(levels))), axis=-1)  # [6, V]
    own_mean = d[:, regions[own]].mean(1)
    assert own_mean[0] == 0.0
    assert (np.diff(own_mean) > 0).all(), own_mean
    assert d[5, regions[own]].max() > 0.02  # at least 2 mm at level E
    assert d[5, regions[far]].max() < 2e-3, d[5, regions[far]].max()  # far region: < 0.2 mm


def test_expression_gradient_matches_finite_differences(fm):
    k = fm.aus.index("AU12")
    w = jnp.asarray(np.random.default_rng(0).normal(size=(fm.asset.num_vertices, 3)), jnp.float32)

    def f(x):
        return jnp.sum(fm.vertices(jnp.zeros_like(fm.mean), x) * w)

    x = jnp.zeros(len(fm.aus)).at[k].set(2.3)  # away from the response's kinks at integers
    g = jax.grad(f)(x)[k]
    eps = 0.05
    fd = (f(x.at[k].add(eps)) - f(x.at[k].add(-eps))) / (2 * eps)
    np.testing.assert_allclose(float(g), float(fd), rtol=2e-3)
    # Batched under jit + vmap.
    out = jax.jit(jax.vmap(fm.vertices))(jnp.zeros((2,) + fm.mean.shape), jnp.stack([x, 2 * x]))
    assert out.shape == (2, fm.asset.num_vertices, 3)


def test_identities_are_deterministic_and_distinct(fm):
    a = fm.asset
    p1 = model.sample_shape(np.random.default_rng(5), a)
    p2 = model.sample_shape(np.random.default_rng(5), a)
    p3 = model.sample_shape(np.random.default_rng(6), a)
    o1, o2, o3 = (model.identity_offsets(p, a) for p in (p1, p2, p3))
    np.testing.assert_array_equal(o1, o2)
    assert np.abs(o1 - o3).max() > 0.02
    w = model.macro_weights(p1, a)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-5)
    assert all(w[i] == 0 for i, n in enumerate(a.identity_names) if "baby" in n or "child" in n)
    # Plausible adult head: identity changes stay within a few centimetres.
    assert np.abs(o1).max() < 0.6
