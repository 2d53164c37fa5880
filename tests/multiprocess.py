"""Helpers of the tests that start several JAX processes on 127.0.0.1 (not tests themselves)."""

import socket
import subprocess

import pytest


def free_port_pair() -> int:
    """A port p with p and p + 1 free (`jaxau.platform.rendezvous` uses p + 1)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", p + 1))
                except OSError:
                    continue
        return p
    raise RuntimeError("no free port pair")


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """``(exit status, output)`` of a worker; a worker past ``timeout`` seconds is killed and fails the test."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"worker timed out:\n{out[-3000:]}")
    return proc.returncode, out
