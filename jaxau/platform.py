"""Process start-up: XLA flags and multi-host initialisation.

Everything here must run before JAX initialises its backends (the first `jax.devices()` or jitted
call), which is why launchers call `configure_xla` first thing and this module imports JAX lazily.
"""

from __future__ import annotations

import logging
import os

# YNNPACK handles convolutions by default in jaxlib 0.10.2 and was ~2x slower than XLA's own path on
# this machine kind (VGG16 train step 3.83 s -> 1.41 s, reference/performance.md). The flag is
# CPU-only and harmless elsewhere. An unknown XLA flag aborts the process, so the set stays minimal.
FAST_CPU_CONV_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


def configure_xla(*, num_cpu_devices: int | None = None, fast_cpu_conv: bool = True) -> str:
    """Adds jaxau's XLA flags to ``XLA_FLAGS`` (idempotent; flags the user set win).

    Args:
      num_cpu_devices: if given, forces that many host (CPU) devices, as tests of data-parallel code
        do with ``--xla_force_host_platform_device_count``.
      fast_cpu_conv: route CPU convolutions to XLA's own emitter instead of YNNPACK.

    Returns:
      The resulting ``XLA_FLAGS`` value.

    Raises:
      RuntimeError: if JAX backends are already initialised (the flags would be silently ignored).
    """
    import sys

    if "jax" in sys.modules:
        from jax._src import xla_bridge  # The only public-ish way to ask "already initialised?".

        if xla_bridge.backends_are_initialized():
            raise RuntimeError("configure_xla() must run before JAX creates its backends; call it at "
                               "the top of the launcher, before any jax.devices() or jitted call.")
    flags = os.environ.get("XLA_FLAGS", "").split()
    names = {f.split("=")[0] for f in flags}
    if fast_cpu_conv and FAST_CPU_CONV_FLAG.split("=")[0] not in names:
        flags.append(FAST_CPU_CONV_FLAG)
    if num_cpu_devices is not None and "--xla_force_host_platform_device_count" not in names:
        flags.append(f"--xla_force_host_platform_device_count={int(num_cpu_devices)}")
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return os.environ["XLA_FLAGS"]


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, *, initialization_timeout: int = 300) -> None:
    """Starts multi-host JAX when asked to, before any computation.

    On TPU VMs (and SLURM / Open MPI clusters) ``jax.distributed.initialize()`` discovers everything by
    itself: pass ``coordinator_address='auto'``. Elsewhere give all three values; every process must
    be started with the same coordinator and count and its own id. With none given this is a no-op
    (single process).
    """
    import jax

    if coordinator_address is None and num_processes in (None, 1):
        return
    if coordinator_address == "auto":
        jax.distributed.initialize(initialization_timeout=initialization_timeout)
    else:
        if coordinator_address is None or num_processes is None or process_id is None:
            raise ValueError("Multi-host start-up needs --coordinator_address, --num_processes and "
                             "--process_id together (or --coordinator_address=auto on TPU VMs).")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"--process_id={process_id} must be in [0, {num_processes}).")
        jax.distributed.initialize(coordinator_address=coordinator_address,
                                   num_processes=num_processes, process_id=process_id,
                                   initialization_timeout=initialization_timeout)
    logging.info("jax.distributed: process %d of %d, %d local / %d global devices",
                 jax.process_index(), jax.process_count(), jax.local_device_count(),
                 jax.device_count())
