"""Process start-up: XLA flags and multi-host initialisation.

Everything here must run before JAX initialises its backends (the first `jax.devices()` or jitted
call), which is why launchers call `configure_xla` first thing and this module imports JAX lazily.
"""

from __future__ import annotations

import logging
import os

from jaxau.validate import ConfigError

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


# Compilations shorter than this are not worth a disk round trip.
DEFAULT_CACHE_MIN_COMPILE_SECONDS = 1.0


def enable_compilation_cache(directory: str | None, *,
                             min_compile_seconds: float = DEFAULT_CACHE_MIN_COMPILE_SECONDS) -> str | None:
    """Turns on JAX's persistent compilation cache in ``directory`` (None or '' leaves it off).

    A pipeline compiles the same programs more than once: every estimator of a paper table has the
    same train step, and each stage builds its own jitted closures, which JAX's in-memory cache
    (keyed by function identity) cannot share. The persistent cache is keyed by the program's HLO,
    the compile options, the XLA flags, the backend and the JAX / jaxlib versions, so an entry is
    only reused for the same executable; a stale or unreadable entry is recompiled. Call before the
    first compilation whose result should be stored.

    Returns:
      The absolute cache directory, or None when the cache stays off.
    """
    if not directory:
        return None
    import jax

    directory = os.path.abspath(os.path.expanduser(directory))
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


# Seconds process 0 waits for every peer (and a peer for process 0) before giving up; launchers expose
# it as --distributed_timeout. Long enough for a TPU pod's hosts to boot a Python process each.
DEFAULT_DISTRIBUTED_TIMEOUT_S = 300


class DistributedStartError(ConfigError):
    """A multi-host run could not start: which process, and which peers never connected."""


def _rendezvous_address(coordinator_address: str) -> tuple[str, int]:
    host, sep, port = coordinator_address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DistributedStartError(f"--coordinator_address={coordinator_address!r}: expected HOST:PORT "
                                    "(or 'auto' on TPU VMs / SLURM).")
    # The check uses the next port so that JAX's coordination service keeps the one the user gave.
    return host, int(port) + 1


def rendezvous(coordinator_address: str, num_processes: int, process_id: int, timeout_s: float) -> None:
    """Waits until all ``num_processes`` processes are up, or says in one line which are not.

    JAX's own start-up aborts the whole process from C++ when a peer is missing ("DEADLINE_EXCEEDED ...
    another task died"), without naming the peer. This check runs first, over plain TCP on the port
    after the coordinator's: process 0 listens and collects every other process's id; each peer
    connects, announces ``(process_id, num_processes)`` and waits for process 0's verdict.

    Raises:
      DistributedStartError: naming the processes that never connected (on process 0, and on every
        peer that did connect), a peer that never reached process 0, a duplicate process id, or a
        mismatched process count.
    """
    import socket
    import time

    host, port = _rendezvous_address(coordinator_address)
    deadline = time.monotonic() + timeout_s
    hint = (f"start every process with --coordinator_address={coordinator_address} "
            f"--num_processes={num_processes} and its own --process_id, or raise --distributed_timeout")
    if process_id == 0:
        server = socket.create_server(("", port), reuse_port=False)
        peers: dict[int, socket.socket] = {}
        problem = None
        try:
            while len(peers) < num_processes - 1 and problem is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                server.settimeout(left)
                try:
                    conn, _ = server.accept()
                except socket.timeout:
                    break
                conn.settimeout(max(1.0, deadline - time.monotonic()))
                try:
                    words = conn.makefile("r").readline().split()
                    pid, count = int(words[1]), int(words[2])
                except (OSError, ValueError, IndexError):
                    conn.close()  # Not one of ours (a port scanner, a stale client): ignore it.
                    continue
                if count != num_processes:
                    problem = (f"process {pid} was started with --num_processes={count}, process 0 with "
                               f"{num_processes}; {hint}.")
                elif pid in peers or not 0 < pid < num_processes:
                    problem = f"two processes claim --process_id={pid} (or it is out of range); {hint}."
                peers.setdefault(pid, conn)
            missing = [i for i in range(1, num_processes) if i not in peers]
            if problem is None and missing:
                problem = (f"processes {missing} never connected to process 0 at {host}:{port} within "
                           f"{timeout_s:g} s; {hint}.")
            verdict = "ok\n" if problem is None else f"abort {problem}\n"
            for conn in peers.values():
                try:
                    conn.sendall(verdict.encode())
                except OSError:
                    pass
        finally:
            for conn in peers.values():
                conn.close()
            server.close()
        if problem is not None:
            raise DistributedStartError(f"process 0: {problem}")
        return
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic()))
            break
        except OSError:
            if time.monotonic() >= deadline:
                raise DistributedStartError(
                    f"process {process_id}: process 0 never answered at {host}:{port} within "
                    f"{timeout_s:g} s; {hint}.") from None
            time.sleep(0.2)
    with conn:
        conn.sendall(f"jaxau {process_id} {num_processes}\n".encode())
        # Process 0 answers once everyone is in, or at its own deadline: wait a little longer than ours.
        conn.settimeout(max(1.0, deadline - time.monotonic()) + 30.0)
        try:
            reply = conn.makefile("r").readline().strip()
        except OSError:
            reply = ""
    if reply != "ok":
        reason = reply[len("abort "):] if reply.startswith("abort ") else "process 0 went away without a verdict"
        raise DistributedStartError(f"process {process_id}: {reason}")


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, *,
                           initialization_timeout: int = DEFAULT_DISTRIBUTED_TIMEOUT_S) -> None:
    """Starts multi-host JAX when asked to, before any computation.

    On TPU VMs (and SLURM / Open MPI clusters) ``jax.distributed.initialize()`` discovers everything by
    itself: pass ``coordinator_address='auto'``. Elsewhere give all three values; every process must
    be started with the same coordinator and count and its own id, and `rendezvous` first checks that
    all of them are up (so a missing peer is one line naming it, not a C++ abort). With none given
    this is a no-op (single process).

    Args:
      coordinator_address: ``HOST:PORT`` of process 0, ``'auto'``, or None.
      num_processes: number of processes.
      process_id: this process's id in ``[0, num_processes)``.
      initialization_timeout: seconds to wait for the other processes.

    Raises:
      DistributedStartError: bad flag combinations, or processes that never connected.
    """
    import jax

    if coordinator_address is None and num_processes in (None, 1):
        return
    if initialization_timeout <= 0:
        raise DistributedStartError(f"--distributed_timeout={initialization_timeout} must be positive.")
    if coordinator_address == "auto":
        jax.distributed.initialize(initialization_timeout=initialization_timeout)
    else:
        if coordinator_address is None or num_processes is None or process_id is None:
            raise DistributedStartError("Multi-host start-up needs --coordinator_address, --num_processes "
                                        "and --process_id together (or --coordinator_address=auto on TPU VMs).")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise DistributedStartError(f"--process_id={process_id} must be in [0, --num_processes="
                                        f"{num_processes}).")
        rendezvous(coordinator_address, num_processes, process_id, initialization_timeout)
        jax.distributed.initialize(coordinator_address=coordinator_address,
                                   num_processes=num_processes, process_id=process_id,
                                   initialization_timeout=initialization_timeout)
    logging.info("jax.distributed: process %d of %d, %d local / %d global devices",
                 jax.process_index(), jax.process_count(), jax.local_device_count(),
                 jax.device_count())
