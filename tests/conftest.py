"""Test-suite start-up: 4 forced CPU devices (so data-parallel code runs for real) and jaxau's XLA flags.

This must run before anything imports JAX, which is why it sits in the root conftest.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
