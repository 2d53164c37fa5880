"""Test-suite start-up: 4 forced CPU devices (so data-parallel code runs for real) and jaxau's XLA flags.

This must run before anything imports JAX, which is why it sits in the root conftest.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from jaxau import platform  # noqa: E402  (imports no JAX)

NUM_TEST_DEVICES = 4
platform.configure_xla(num_cpu_devices=NUM_TEST_DEVICES)
