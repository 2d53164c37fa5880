"""Shared plumbing of the absl launchers in ``launch/``: common flags, start-up, console, one-line errors.

A launcher is::

    from jaxau import cli
    def main(config, workdir): ...          # library calls only
    def run():                              # its console script, e.g. jaxau-x = launch.x:run
        cli.run(main)
    if __name__ == "__main__":
        run()

and is invoked as ``python launch/x.py --config=configs/y.py --workdir=DIR [--config.a.b=v]`` or
``jaxau-x ...`` from any directory (``--config=configs/...`` then falls back to the installed
``configs`` package). Launchers with flags of their own and no config (``predict``) use `run_app`.

Console: by default it shows jaxau's own lines (stage, step, rates, ETA: INFO records logged from
the ``jaxau`` and ``launch`` packages), every error, and each library warning once; library INFO
lines (orbax, TFDS, ...) and repeated library warnings go only to ``<workdir>/logs/<launcher>.log``,
which keeps every record. ``--verbosity=1`` shows everything on the console too. Progress bars
(tqdm) are off when stderr is not a terminal. TensorFlow's C++ start-up lines (oneDNN notices)
bypass Python logging and still appear.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import runpy
import sys
from typing import Any, Callable, Sequence

from absl import app, flags
from ml_collections import config_flags

from jaxau import hosts, platform, validate
from jaxau.validate import ConfigError

FLAGS = flags.FLAGS
_FLAGS: dict[str, Any] = {}


def _define_flags() -> dict[str, Any]:
    """Defines the launchers' common flags (once, when a launcher runs; importing cli defines none)."""
    if not _FLAGS:
        _FLAGS.update(
            config=config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py); "
                                                   "override fields with --config.a.b=value.", lock_config=True),
            workdir=flags.DEFINE_string("workdir", None, "Run directory: checkpoints, logs, artifacts. A run "
                                        "resumes from it when it already holds a checkpoint."),
            coordinator=flags.DEFINE_string("coordinator_address", None, "Multi-host: host:port of process "
                                            "0, or 'auto' on TPU VMs / SLURM."),
            num_processes=flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes."),
            process_id=flags.DEFINE_integer("process_id", None, "Multi-host: this process's id."),
            distributed_timeout=flags.DEFINE_integer(
                "distributed_timeout", platform.DEFAULT_DISTRIBUTED_TIMEOUT_S, "Multi-host: seconds to wait "
                "for every process to connect before failing with the list of processes that never did."),
            fast_cpu_conv=flags.DEFINE_bool("fast_cpu_conv", True, "Use XLA's CPU convolutions instead of "
                                            "YNNPACK (about 2x faster on CPU; see BUILD_NOTES.md)."),
            compilation_cache=flags.DEFINE_string(
                "compilation_cache", "auto", "JAX's persistent compilation cache: a directory, 'auto' "
                "(<workdir>/cache/xla: stages that compile the same program compile it once) or 'none'."))
    return _FLAGS


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


def load_config(spec: str):
    """The config of ``path[:arg]``, as ``--config=path[:arg]`` gives it: the file's
    ``get_config(arg)``, or ``get_config()`` without an argument."""
    path, _, arg = spec.partition(":")
    module = runpy.run_path(path)
    return module["get_config"](arg) if arg else module["get_config"]()


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
            config = load_config(f"{path}:{arg}" if arg else path)
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


def _resolve_config_path(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--config=configs/...`` pointed at the installed ``configs`` package when that
    relative path does not exist from the current directory (console scripts run from anywhere)."""
    out = list(argv)
    for i, a in enumerate(out):
        if not a.startswith("--config="):
            continue
        path, colon, arg = a.split("=", 1)[1].partition(":")
        if os.path.isabs(path) or os.path.isfile(path) or not path.replace("\\", "/").startswith("configs/"):
            continue
        spec = importlib.util.find_spec("configs")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            candidate = os.path.join(os.path.dirname(folder), path)
            if os.path.isfile(candidate):
                out[i] = f"--config={candidate}{colon}{arg}"
                break
    return out


def _parse_flags(argv: Sequence[str]) -> list[str]:
    """absl's flag parsing, with config loading/override errors as one line and exit status 2."""
    argv = _resolve_config_path(argv)
    sys.argv[:] = argv
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

    ``main`` may return an int exit status (e.g. `jaxau.train.loop.PREEMPTED_EXIT_CODE`). Console
    and log file as in the module docstring (the log file is ``<workdir>/logs/<launcher>.log``).
    """
    f = _define_flags()

    def _main(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}: flags look like --config=... --workdir=...",
                  file=sys.stderr)
            sys.exit(EXIT_CONFIG_ERROR)
        with _OneLineErrors():
            try:
                config = f["config"].value  # ml_collections loads the file lazily, on first access.
            except (AttributeError, KeyError, OSError, TypeError, ValueError) as e:
                print(f"error: {_explain_config_error(sys.argv, e)}", file=sys.stderr)
                sys.exit(EXIT_CONFIG_ERROR)
            if needs_config and config is None:
                raise ConfigError("--config is required: pass --config=configs/<experiment>.py.")
            workdir = validate.workdir(f["workdir"].value)
            platform.configure_xla(fast_cpu_conv=f["fast_cpu_conv"].value)
            platform.enable_compilation_cache(compilation_cache_dir(f["compilation_cache"].value, workdir))
            platform.initialize_distributed(f["coordinator"].value, f["num_processes"].value,
                                            f["process_id"].value,
                                            initialization_timeout=f["distributed_timeout"].value)
            log_to_file(workdir, launcher_name(), process_index=_process_index(f["coordinator"].value))
            # The offline stages' share of a multi-host run (a collective: every process, here).
            share = hosts.from_jax() if f["coordinator"].value else hosts.Share()
            with hosts.activate(share):
                status = main(config, workdir)
        if isinstance(status, int) and status:
            sys.exit(status)

    _start(main)
    app.run(_main, flags_parser=_parse_flags)


def run_app(main: Callable[[list[str]], Any]) -> None:
    """Runs an absl ``main(argv)`` that defines its own flags (no --config / --workdir).

    Same console as `run` (no log file: there is no workdir); `ConfigError` and `FileNotFoundError`
    become one ``error:`` line and exit status 2.
    """

    def _main(argv):
        with _OneLineErrors():
            status = main(argv)
        if isinstance(status, int) and status:
            sys.exit(status)

    _start(main)
    app.run(_main)


def compilation_cache_dir(value: str | None, workdir: str | None) -> str | None:
    """The directory ``--compilation_cache=value`` names: 'auto' is ``<workdir>/cache/xla`` (off
    without a workdir), 'none' or '' is off, anything else is a directory."""
    value = (value or "").strip()
    if value.lower() in ("", "none", "off"):
        return None
    if value.lower() == "auto":
        return os.path.join(workdir, "cache", "xla") if workdir else None
    return value


def launcher_name() -> str:
    """The running launcher's short name: ``reproduce`` for launch/reproduce.py and jaxau-reproduce."""
    name = os.path.basename(sys.argv[0] or "jaxau")
    name = name[:-3] if name.endswith(".py") else name
    return name[len("jaxau-"):].replace("-", "_") if name.startswith("jaxau-") else name


def _process_index(coordinator: str | None) -> int:
    if not coordinator:
        return 0
    import jax

    return jax.process_index()


def _start(main: Callable[..., Any]) -> None:
    """Logging set-up shared by `run` and `run_app`, before flags are parsed."""
    if not sys.stderr.isatty() and "tqdm" not in sys.modules:
        os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm reads it on import: no bars in logs / pipes.
    logging.getLogger().setLevel(logging.INFO)
    # --help lists the main module's flags; a console script's main module is its wrapper, so the
    # launcher's own flags (and the common ones) are made key flags of it.
    for module in (main.__module__, __name__):
        for flag in FLAGS.get_flags_for_module(module):
            FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    ours = [os.path.dirname(os.path.realpath(__file__)),
            os.path.dirname(os.path.realpath(main.__code__.co_filename))]
    app.call_after_init(lambda: quiet_console(ours))


class ConsoleFilter(logging.Filter):
    """What the console shows: our own records, every error, and each library warning once.

    "Our own" are records logged from files under ``our_dirs`` (the ``jaxau`` package and the
    launcher's folder, compared as real paths: a virtual environment inside a checkout is still a
    library). An INFO record of ours longer than ``max_lines`` lines (e.g. a parameter table) shows
    its first line and how many more the log file has. With ``--verbosity`` >= 1 everything passes
    unchanged.

    Args:
      our_dirs: folders whose modules' INFO records are progress lines for the user.
      max_lines: the longest INFO record of ours shown whole.
    """

    def __init__(self, our_dirs: Sequence[str], max_lines: int = 12):
        super().__init__()
        self.max_lines = int(max_lines)
        self.our_dirs = tuple(os.path.join(os.path.realpath(d), "") for d in our_dirs)
        self._ours: dict[str, bool] = {}
        self._warned: set[tuple[str, int]] = set()

    def is_ours(self, pathname: str) -> bool:
        """Whether a record logged from ``pathname`` is one of ours."""
        if pathname not in self._ours:
            self._ours[pathname] = os.path.realpath(pathname).startswith(self.our_dirs)
        return self._ours[pathname]

    def filter(self, record: logging.LogRecord) -> bool:
        if _verbosity() >= 1 or record.levelno >= logging.ERROR:
            return True
        if self.is_ours(record.pathname):
            if record.levelno < logging.WARNING:
                _shorten(record, self.max_lines)
            return True
        if record.levelno >= logging.WARNING:
            key = (record.pathname, record.lineno)
            first = key not in self._warned
            self._warned.add(key)
            return first
        return False


def _shorten(record: logging.LogRecord, max_lines: int) -> None:
    """Cuts ``record``'s message to its first line when it has more than ``max_lines`` lines.

    The log file's handler runs before the console's (`log_to_file` puts it first), so the file
    keeps the whole message.
    """
    message = record.getMessage()
    if message.count("\n") >= max_lines:
        rest = message.count("\n")
        record.msg, record.args = f"{message.splitlines()[0]} [{rest} more lines in the log file]", None


def _verbosity() -> int:
    try:
        return int(FLAGS["verbosity"].value or 0)
    except (KeyError, flags.UnparsedFlagAccessError):
        return 0


def quiet_console(our_dirs: Sequence[str]) -> ConsoleFilter:
    """Installs a `ConsoleFilter` on absl's console handler; returns it."""
    from absl import logging as absl_logging

    console = ConsoleFilter(our_dirs)
    absl_logging.get_absl_handler().addFilter(console)
    return console


def log_to_file(workdir: str, name: str, process_index: int = 0) -> str:
    """Sends every log record (libraries' too) to ``<workdir>/logs/<name>.log``, appended; returns it.

    Process ``i`` > 0 of a multi-host run writes ``<name>.p<i>.log``.
    """
    from absl import logging as absl_logging

    folder = os.path.join(workdir, "logs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.log" if process_index == 0 else f"{name}.p{process_index}.log")
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, logging.FileHandler) and getattr(h, "jaxau_log", False):
            root.removeHandler(h)
            h.close()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.jaxau_log = True
    handler.setFormatter(absl_logging.PythonFormatter())
    root.handlers.insert(0, handler)  # Before the console's: it writes records before they are shortened.
    logging.info("log file: %s (every record; the console shows jaxau's own lines, errors and each "
                 "library warning once; --verbosity=1 shows everything)", path)
    return path
