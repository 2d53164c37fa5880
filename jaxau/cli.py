"""Shared plumbing of the absl launchers in ``launch/``: common flags, start-up, one-line errors.

A launcher is::

    from jaxau import cli
    def main(config, workdir): ...          # library calls only
    if __name__ == "__main__":
        cli.run(main)

and is invoked as ``python launch/x.py --config=configs/y.py --workdir=DIR [--config.a.b=v]``.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
from typing import Any, Callable, Sequence

from absl import app, flags
from ml_collections import config_flags

from jaxau import platform, validate
from jaxau.validate import ConfigError

FLAGS = flags.FLAGS

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py); "
                                          "override fields with --config.a.b=value.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, logs, artifacts. A run "
                               "resumes from it when it already holds a checkpoint.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "Multi-host: host:port of process 0, "
                                   "or 'auto' on TPU VMs / SLURM.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's id.")
_DISTRIBUTED_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout", platform.DEFAULT_DISTRIBUTED_TIMEOUT_S, "Multi-host: seconds to wait for every "
    "process to connect before failing with the list of processes that never did.")
_FAST_CPU_CONV = flags.DEFINE_bool("fast_cpu_conv", True, "Use XLA's CPU convolutions instead of "
                                   "YNNPACK (about 2x faster on CPU; see BUILD_NOTES.md).")

EXIT_CONFIG_ERROR = 2


class _OneLineErrors:
    """Turns expected user errors into one line on stderr and a non-zero exit, without a traceback."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        if issubclass(exc_type, (ConfigError, FileNotFoundError)):
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_CONFIG_ERROR)
        return False


def _config_file_and_overrides(argv: Sequence[str]):
    """``(path, argument, [(field, value or None), ...])`` of the --config flags in ``argv``."""
    path, arg, overrides = None, None, []
    for a in argv[1:]:
        if a.startswith("--config="):
            spec = a.split("=", 1)[1]
            path, _, arg = spec.partition(":")
        elif a.startswith("--config."):
            field, eq, value = a[len("--config."):].partition("=")
            overrides.append((field, value if eq else None))
    return path, arg or None, overrides


def _explain_config_error(argv: Sequence[str], exc: BaseException) -> str:
    """One line naming the --config flag at fault and what to do about it."""
    path, arg, overrides = _config_file_and_overrides(argv)
    if path is not None and not os.path.isfile(path):
        return f"--config={path}: no such file; pass a config file such as configs/demo.py."
    if path is not None:
        try:
            module = runpy.run_path(path)
            config = module["get_config"](arg) if arg else module["get_config"]()
        except Exception as e:  # The config file itself is broken: say so, with its error.
            return f"--config={path}{':' + arg if arg else ''}: loading it failed ({type(e).__name__}: {e})."
        for field, value in overrides:
            node, walked = config, []
            for key in field.split("."):
                keys = list(node.keys()) if hasattr(node, "keys") else []
                if key not in keys:
                    where = ".".join(walked) or "the top level"
                    return (f"--config.{field}: {path} has no field {key!r} in {where} "
                            f"(fields there: {', '.join(sorted(map(str, keys)))}).")
                node, walked = node[key], walked + [key]
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"bad flags ({type(exc).__name__}: {first}); check the --config.<field>=<value> overrides."


def _parse_flags(argv: Sequence[str]) -> list[str]:
    """absl's flag parsing, with config loading/override errors as one line and exit status 2."""
    path = _config_file_and_overrides(argv)[0]
    if path is not None and not os.path.isfile(path):
        # ml_collections would only log this and fail later, at the first use of the config.
        print(f"error: {_explain_config_error(argv, FileNotFoundError(path))}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)
    try:
        return FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)
    except (AttributeError, KeyError, OSError, TypeError, ValueError) as e:
        print(f"error: {_explain_config_error(argv, e)}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)


def run(main: Callable[[Any, str], Any], *, needs_config: bool = True) -> None:
    """Parses flags, starts JAX (XLA flags, multi-host), and calls ``main(config, workdir)``.

    ``main`` may return an int exit status (e.g. `jaxau.train.loop.PREEMPTED_EXIT_CODE`).
    """

    def _main(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}: flags look like --config=... --workdir=...",
                  file=sys.stderr)
            sys.exit(EXIT_CONFIG_ERROR)
        with _OneLineErrors():
            try:
                config = _CONFIG.value  # ml_collections loads the file lazily, on first access.
            except (AttributeError, KeyError, OSError, TypeError, ValueError) as e:
                print(f"error: {_explain_config_error(sys.argv, e)}", file=sys.stderr)
                sys.exit(EXIT_CONFIG_ERROR)
            if needs_config and config is None:
                raise ConfigError("--config is required: pass --config=configs/<experiment>.py.")
            workdir = validate.workdir(_WORKDIR.value)
            platform.configure_xla(fast_cpu_conv=_FAST_CPU_CONV.value)
            platform.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                                            initialization_timeout=_DISTRIBUTED_TIMEOUT.value)
            status = main(config, workdir)
        if isinstance(status, int) and status:
            sys.exit(status)

    logging.getLogger().setLevel(logging.INFO)
    app.call_after_init(_quiet_library_logs)
    app.run(_main, flags_parser=_parse_flags)


class _DropLibraryInfo(logging.Filter):
    """Keeps INFO lines from jaxau and launchers; libraries (orbax logs ~20 lines per checkpoint)
    only reach the console at WARNING and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        path = record.pathname.replace("\\", "/")
        return "/jaxau/" in path or "/launch/" in path


def _quiet_library_logs() -> None:
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().addFilter(_DropLibraryInfo())
