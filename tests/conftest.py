"""Test-suite start-up: 4 forced CPU devices (so data-parallel code runs for real) and jaxau's XLA flags.

This must run before anything imports JAX, which is why it sits in the root conftest.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# One persistent compilation cache per test run (jaxau.platform.enable_compilation_cache): many
# modules compile the same programs (the registration network's train step at the test size, the
# estimator's, the rasterizer's), each in fresh closures the in-memory cache cannot share. The
# xdist workers inherit the controller's environment, so they share its directory; the controller
# removes it at exit. A JAX_COMPILATION_CACHE_DIR set by the user is used as is and kept.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxau-test-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

from jaxau import platform  # noqa: E402  (imports no JAX)

NUM_TEST_DEVICES = 4
platform.configure_xla(num_cpu_devices=NUM_TEST_DEVICES)


import pytest  # noqa: E402


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``pytest -n N`` hands out whole test files (xdist's ``loadfile``) unless ``--dist`` says
    otherwise: many modules build an expensive module-scoped fixture (a registration network, a
    demo graph, a trained estimator), and xdist's default per-test distribution builds it again on
    every worker that gets one of the module's tests."""
    if config.getvalue("dist") == "load":
        from xdist.scheduler import LoadFileScheduling

        return LoadFileScheduling(config, log)
    return None


# The longest test files (module fixture + calls, measured with --durations on the 2-core box),
# longest first. xdist's loadfile scheduling hands out files in collection order; a long file
# collected late (tests/test_demo.py sorts 75th of 98) keeps one worker busy after the other has
# finished everything else. Starting the longest first is the longest-processing-time rule.
LONGEST_FILES = (
    "tests/test_demo.py",
    "tests/train/test_prnet.py",
    "tests/stages/test_register.py",
    "tests/models/test_prnet.py",
    "tests/train/test_estimator.py",
    "tests/train/test_gan_steps.py",
    "tests/align/test_exact.py",
    "tests/train/test_loop.py",
    "tests/stages/test_multihost.py",
)


def pytest_collection_modifyitems(session, config, items):
    """Moves the files of :data:`LONGEST_FILES` to the front, in that order (stable otherwise)."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    root = str(config.rootpath)

    def key(item):
        path = os.path.relpath(str(item.path), root).replace(os.sep, "/")
        return rank.get(path, len(rank))

    items.sort(key=key)
