"""`benchmarks/rasterizer_peer.py`: the face3d peer is loaded from a user's built checkout or
refused in one line that says how to build it."""

import os
import sys

import pytest

from benchmarks import rasterizer_peer


def test_a_checkout_without_the_built_extension_is_refused(tmp_path):
    cython_dir = tmp_path / "face3d" / "mesh" / "cython"
    cython_dir.mkdir(parents=True)
    (cython_dir / "mesh_core_cython.pyx").write_text("# source only\n")
    with pytest.raises(SystemExit, match="no built mesh_core_cython extension under .*build_ext -i"):
        rasterizer_peer.load_peer(str(tmp_path))


def test_the_peer_module_loads_without_its_package_init(tmp_path, monkeypatch):
    # A stand-in checkout: face3d/__init__.py would fail (as the real one does without matplotlib,
    # scipy and scikit-image); mesh/render.py imports the extension relatively, as face3d's does.
    package = tmp_path / "face3d"
    cython_dir = package / "mesh" / "cython"
    cython_dir.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('package init must not run')\n")
    (package / "mesh" / "__init__.py").write_text("raise ImportError('package init must not run')\n")
    (package / "mesh" / "render.py").write_text(
        "from .cython import mesh_core_cython\n"
        "def render_colors(*args):\n    return mesh_core_cython.NAME\n")
    # An importable stand-in "extension": the loader only checks that a built mesh_core_cython*.so
    # exists (this one's name is not an extension suffix Python would import); Python imports the
    # .py beside it.
    (cython_dir / "mesh_core_cython.stale.so").write_bytes(b"")
    (cython_dir / "mesh_core_cython.py").write_text("NAME = 'stand-in core'\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    try:
        render = rasterizer_peer.load_peer(str(tmp_path))
        assert render.render_colors() == "stand-in core"
        assert os.path.dirname(render.__file__) == str(package / "mesh")
    finally:
        for name in [m for m in sys.modules if m == "face3d" or m.startswith("face3d.")]:
            del sys.modules[name]
