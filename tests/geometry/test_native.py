"""jaxau.geometry.native: the C++ rasterizer equals the XLA one bit for bit; build, cache, fallback."""

import logging
import os

import jax
import numpy as np
import pytest

from jaxau.geometry import native, rasterize
from tests.geometry.test_rasterize import grid_mesh, random_soup


def dense_face(grid=96, size=96, seed=0):
    """A dense UV-grid mesh masked to an ellipse with a smooth bulge: most triangles are smaller than
    a pixel (the face meshes' regime), a few hundred hold several pixel centres."""
    u, v = np.meshgrid(np.linspace(0, 1, grid), np.linspace(0, 1, grid))
    r2 = ((u - 0.5) / 0.4) ** 2 + ((v - 0.5) / 0.45) ** 2
    z = 30 * np.sqrt(np.clip(1 - r2, 0, None)) + np.random.default_rng(seed).normal(0, 0.1, u.shape)
    verts = np.stack([u * size * 0.9 + 3.3, v * size * 0.9 + 2.7, z], -1).reshape(-1, 3)
    idx = np.arange(grid * grid).reshape(grid, grid)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    inside = (r2.reshape(-1)[tris] < 1).all(1)
    return verts.astype(np.float32), tris[inside].astype(np.int32)


def both(v, t, h, w, **kw):
    xla = jax.jit(lambda v: rasterize(v, t, h, w, impl="xla", **kw))(v)
    cpp = jax.jit(lambda v: rasterize(v, t, h, w, impl="native", **kw))(v)
    for name in xla._fields:
        a, b = getattr(xla, name), getattr(cpp, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
    return xla, cpp


def assert_bit_identical(v, t, h, w, **kw):
    xla, cpp = both(v, t, h, w, **kw)
    for name in xla._fields:
        a, b = np.asarray(getattr(xla, name)), np.asarray(getattr(cpp, name))
        # Bit patterns, not values: -0.0 / 0.0 or one-ulp depth differences would fail here.
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), (
            f"{name}: {int(np.sum(a != b))} pixels differ")
    return cpp


@pytest.mark.parametrize("cull", [False, True])
def test_dense_mesh_bit_identical(cull):
    v, t = dense_face()
    frag = assert_bit_identical(v, t, 96, 96, cull_backfaces=cull)
    assert 0.3 < float(np.mean(np.asarray(frag.mask))) < 0.8
    if not cull:
        assert len(np.unique(np.asarray(frag.triangle_id))) > 3000


@pytest.mark.parametrize("seed,grid", [(1, 4), (2, 2), (3, 8)])
def test_overlapping_snapped_triangles_bit_identical(seed, grid):
    # Vertices on a coarse grid put pixel centres on edges and corners (fill rule) and make exact
    # depth ties (lowest index); large overlapping triangles take the XLA path's tiled loop. The
    # arithmetic is exact, so the two implementations must agree to the bit.
    v, t = random_soup(seed, n_small=300, n_big=30, grid=grid)
    assert_bit_identical(v, t, 40, 48)


@pytest.mark.parametrize("seed", [0, 5])
def test_large_unsnapped_triangles_agree_up_to_rounding(seed):
    # Where products round (large triangles, arbitrary coordinates) XLA fuses some multiply-adds in
    # its own way, so barycentrics and depth may differ in the last bits; coverage and ids do not.
    v, t = random_soup(seed, n_small=300, n_big=30)
    xla, cpp = both(v, t, 40, 48)
    np.testing.assert_array_equal(np.asarray(cpp.triangle_id), np.asarray(xla.triangle_id))
    np.testing.assert_array_equal(np.asarray(cpp.mask), np.asarray(xla.mask))
    np.testing.assert_allclose(np.asarray(cpp.barycentric), np.asarray(xla.barycentric), rtol=0, atol=2e-6)
    np.testing.assert_allclose(np.asarray(cpp.depth), np.asarray(xla.depth), rtol=1e-6, atol=1e-6)


def test_shared_edges_and_batches_bit_identical():
    v, t = grid_mesh(17, 13, -0.5, 0.25, 30.5, 24.75)
    batch = np.stack([v, v * np.float32([1.01, 0.99, -1]) + np.float32([0.3, -0.2, 0])])
    frag = assert_bit_identical(batch.reshape(2, 1, -1, 3), t, 24, 30)
    assert frag.triangle_id.shape == (2, 1, 24, 30)


def test_cpu_lowering_calls_the_kernel_only_when_asked():
    v, t = random_soup(0)
    text = lambda impl: jax.jit(lambda v: rasterize(v, t, 8, 8, impl=impl)).lower(v).as_text()  # noqa
    assert native.TARGET in text("native") and native.TARGET in text("auto")
    assert native.TARGET not in text("xla")


def test_environment_variable_picks_the_default(monkeypatch):
    monkeypatch.setenv(native.ENV, "XLA")
    assert native.default_impl() == "xla"
    monkeypatch.delenv(native.ENV)
    assert native.default_impl() == "auto"
    monkeypatch.setenv(native.ENV, "fast")
    with pytest.raises(ValueError, match=r"JAXAU_RASTERIZER='fast': choose one of auto, native, xla"):
        native.default_impl()


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state with no kernel loaded and an empty cache directory."""
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("JAXAU_CACHE_DIR", str(tmp_path))
    native._warn_once.cache_clear()
    yield tmp_path
    native._warn_once.cache_clear()


def test_build_is_cached_atomic_and_keyed_by_the_source(fresh, monkeypatch, tmp_path):
    path = native.build()
    assert path.startswith(str(fresh)) and os.path.exists(path)
    assert [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".")] == []  # no temp left
    mtime = os.stat(path).st_mtime_ns
    assert native.build() == path and os.stat(path).st_mtime_ns == mtime  # reused, not rebuilt
    edited = tmp_path / "edited.cc"
    edited.write_text(open(native.SOURCE).read() + "\n// edited\n")
    monkeypatch.setattr(native, "SOURCE", str(edited))
    assert native.library_path() != path
    monkeypatch.setattr(native, "SOURCE", native.SOURCE)
    monkeypatch.setattr(native, "CXXFLAGS", native.CXXFLAGS + ("-g",))
    assert native.library_path() != path


def test_failed_build_falls_back_once_or_raises(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CXX", "/bin/false")
    with caplog.at_level(logging.WARNING, logger="jaxau"):
        assert native.available("auto") is False
        assert native.available("auto") is False
    warnings = [r.getMessage() for r in caplog.records if "native rasterizer is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "/bin/false" in warnings[0] and "JAXAU_RASTERIZER=xla" in warnings[0]
    with pytest.raises(RuntimeError, match="native rasterizer is unavailable"):
        native.available("native")
    assert native.available("xla") is False
    # rasterize still works on the XLA path.
    v, t = random_soup(1)
    assert bool(rasterize(v, t, 8, 8, impl="auto").mask.any())
    with pytest.raises(RuntimeError, match="/bin/false"):
        rasterize(v, t, 8, 8, impl="native")


def test_auto_builds_nothing_where_the_default_backend_is_an_accelerator(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CXX", "/bin/false")  # a build attempt would log a warning
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    v, t = random_soup(2)
    with caplog.at_level(logging.WARNING, logger="jaxau"):
        text = jax.jit(lambda v: rasterize(v, t, 8, 8, impl="auto")).lower(v).as_text()
    assert native.TARGET not in text and "error" not in native._state and not caplog.records
