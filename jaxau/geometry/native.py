"""The rasterizer's C++ kernel for CPUs: built from ``native_rasterize.cc`` on first use, called
through XLA's FFI.

:func:`jaxau.geometry.rasterize` computes visibility with jax.numpy scatters, which XLA:CPU runs at
~2.5x the CPU time of a serial C++ z-buffer (BUILD_NOTES.md "Rasterizer"). On CPU it therefore calls
this kernel instead: the same contract (snapped float32 expressions, fill rule, tie rule), with
outputs identical to the bit wherever the arithmetic is exact (triangles of a few pixels: every face
mesh and SynthFACS render measured) and within float32 rounding on large triangles with arbitrary
coordinates, where XLA fuses some multiply-adds its own way. On GPU / TPU, or where no C++ compiler
is available, rasterize stays on the XLA path. Visibility has no gradient either way (positions get theirs through ``interpolate``).

Which path ``rasterize`` takes is its ``impl`` argument, whose default comes from the environment
variable ``JAXAU_RASTERIZER``:

* ``auto`` (default): where JAX's default backend is the CPU, the kernel when it builds (once per
  machine and kernel version; a failed build logs one warning and falls back to XLA); on GPU / TPU
  hosts the XLA path, with nothing built;
* ``native``: the kernel on CPU, and a failed build is an error;
* ``xla``: the jax.numpy path everywhere.

The shared library is compiled with the system's ``c++`` (``$CXX`` if set) against the FFI headers
that ship with jaxlib, into ``$JAXAU_CACHE_DIR/native`` (default ``$XDG_CACHE_HOME/jaxau`` or
``~/.cache/jaxau``), under a name keyed by the source, the compiler command and version, and the
jaxlib version, written atomically (concurrent processes each build to a temporary file and rename).
``python -c "from jaxau.geometry import native; print(native.build())"`` builds it ahead of time.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import tempfile
import threading

import jax
import jax.numpy as jnp
import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native_rasterize.cc")
TARGET = "jaxau_rasterize"
IMPLS = ("auto", "native", "xla")
ENV = "JAXAU_RASTERIZER"
# No -ffast-math and no compiler-chosen FMA contraction: the kernel rounds as XLA's float32 does
# (the multiply-adds XLA fuses on FMA hardware are written out as std::fma in the source).
CXXFLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fno-fast-math", "-ffp-contract=off")

_lock = threading.Lock()
_state: dict = {}


def default_impl() -> str:
    """The process default of ``rasterize(impl=None)``: ``$JAXAU_RASTERIZER`` or ``auto``."""
    impl = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if impl not in IMPLS:
        raise ValueError(f"{ENV}={os.environ.get(ENV)!r}: choose one of {', '.join(IMPLS)}.")
    return impl


def cache_dir() -> str:
    """Where built kernels live: ``$JAXAU_CACHE_DIR/native``, else under the XDG cache directory."""
    root = os.environ.get("JAXAU_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "jaxau")
    return os.path.join(root, "native")


def _compiler() -> list[str]:
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        raise RuntimeError("no C++ compiler found (set CXX or install g++)")
    return cxx.split()


def library_path() -> str:
    """The kernel's cache path: a name keyed by everything that shapes the built library."""
    cxx = _compiler()
    try:
        version = subprocess.run(cxx + ["--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError as e:
        raise RuntimeError(f"C++ compiler {cxx[0]!r} does not run: {e}") from e
    key = hashlib.sha256()
    with open(SOURCE, "rb") as f:
        source = f.read()
    for part in (source, " ".join(cxx + list(CXXFLAGS)).encode(), version.encode(),
                 importlib.metadata.version("jaxlib").encode()):
        key.update(part)
        key.update(b"\0")
    return os.path.join(cache_dir(), f"rasterize-{key.hexdigest()[:16]}.so")


def build() -> str:
    """Compiles the kernel into the cache unless it is there; returns the library's path."""
    path = library_path()
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".rasterize-", suffix=".so", dir=os.path.dirname(path))
    os.close(fd)
    cmd = _compiler() + list(CXXFLAGS) + ["-I", jax.ffi.include_dir(), SOURCE, "-o", tmp]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"'{' '.join(cmd)}' failed: {done.stderr.strip()[-2000:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load() -> None:
    """Builds (if needed), loads and registers the kernel as the FFI target ``jaxau_rasterize``.

    Raises:
      RuntimeError: no compiler, or the build failed (the message holds the compiler's error).
    """
    with _lock:
        if "error" in _state:
            raise RuntimeError(_state["error"])
        if "library" in _state:
            return
        try:
            path = build()
            library = ctypes.CDLL(path)
            jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.JaxauRasterize), platform="cpu")
        except (RuntimeError, OSError, AttributeError, subprocess.SubprocessError) as e:
            _state["error"] = f"the native rasterizer is unavailable: {e}"
            raise RuntimeError(_state["error"]) from e
        _state["library"] = library
        _state["path"] = path


@functools.cache
def _warn_once(message: str) -> None:
    logging.getLogger("jaxau").warning("%s; rasterizing with XLA (set %s=xla to silence this).",
                                       message, ENV)


def available(impl: str) -> bool:
    """Whether ``impl`` resolves to the kernel on CPU (building it if needed).

    ``auto`` falls back (one warning per process) when the kernel cannot be built; ``native`` raises;
    ``xla`` is always False.
    """
    if impl == "xla":
        return False
    try:
        load()
        return True
    except RuntimeError as e:
        if impl == "native":
            raise
        _warn_once(str(e))
        return False


def rasterize_cpu(vertices: jax.Array, triangles: jax.Array, height: int, width: int,
                  cull_backfaces: bool):
    """The kernel on vertices ``[N, V, 3]`` (float32) and triangles ``[T, 3]`` (int32).

    Returns ``(triangle_id [N, H, W], barycentric [N, H, W, 3], depth [N, H, W])``; call
    :func:`load` first. Under ``jax.vmap`` the kernel runs once per mapped element.
    """
    n = vertices.shape[0]
    out = (jax.ShapeDtypeStruct((n, height, width), jnp.int32),
           jax.ShapeDtypeStruct((n, height, width, 3), jnp.float32),
           jax.ShapeDtypeStruct((n, height, width), jnp.float32))
    call = jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")
    return call(vertices, triangles, height=np.int64(height), width=np.int64(width),
                cull_backfaces=np.int64(bool(cull_backfaces)))
