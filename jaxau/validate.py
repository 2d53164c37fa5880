"""Config validation with one-line errors that name the field and the fix.

Launchers call these on the ``ml_collections.ConfigDict`` before doing any work; `ConfigError` is
caught by `jaxau.cli.run` and printed as a single line (exit status 2), never as a traceback.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from jaxau import au


class ConfigError(ValueError):
    """A bad configuration value; the message is one line naming the field and the fix."""


def _get(config: Any, field: str) -> Any:
    node = config
    for part in field.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError, AttributeError):
            raise ConfigError(f"config.{field} is missing: add it to the config file or pass "
                              f"--config.{field}=VALUE.") from None
    return node


def positive_int(config: Any, field: str, *, allow_zero: bool = False) -> int:
    value = _get(config, field)
    ok = isinstance(value, int) and not isinstance(value, bool) and (value > 0 or (allow_zero and value == 0))
    if not ok:
        need = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"config.{field}={value!r} must be {need} integer: pass --config.{field}=N.")
    return value


def positive_float(config: Any, field: str, *, allow_zero: bool = False) -> float:
    value = _get(config, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        value > 0 or (allow_zero and value == 0))
    if not ok:
        need = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"config.{field}={value!r} must be a {need} number: pass --config.{field}=X.")
    return float(value)


def one_of(config: Any, field: str, choices: Iterable[Any]) -> Any:
    value = _get(config, field)
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"config.{field}={value!r} is not one of {choices}: pass "
                          f"--config.{field}={choices[0]}.")
    return value


def au_names(config: Any, field: str) -> tuple[str, ...]:
    value = _get(config, field)
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    try:
        names = au.canonical_aus(value)
    except ValueError as e:
        raise ConfigError(f"config.{field}: {e}") from None
    if not names:
        raise ConfigError(f"config.{field} is empty: list AUs, e.g. --config.{field}=AU01,AU12.")
    return names


def divisible_batch(config: Any, field: str, device_count: int | None = None) -> int:
    """The global batch must split evenly over all devices of all processes."""
    if device_count is None:
        import jax

        device_count = jax.device_count()
    value = positive_int(config, field)
    if value % device_count:
        fix = max(device_count, value - value % device_count)
        raise ConfigError(f"config.{field}={value} is not divisible by the {device_count} devices: "
                          f"pass --config.{field}={fix} (a multiple of {device_count}).")
    return value


def existing_dir(config: Any, field: str, *, what: str = "directory") -> str:
    value = _get(config, field)
    if not value or not os.path.isdir(os.path.expanduser(str(value))):
        raise ConfigError(f"config.{field}={value!r}: {what} not found; pass --config.{field}=/path/to/it.")
    return os.path.expanduser(str(value))


def workdir(path: str | None) -> str:
    """The launcher's --workdir: required; created with its parents if missing."""
    if not path:
        raise ConfigError("--workdir is required: pass --workdir=/path/to/run (created if missing).")
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"--workdir={path} is a file, not a directory: choose another path.")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--workdir={path} cannot be created ({e.strerror}): choose a writable path.") from None
    return path
