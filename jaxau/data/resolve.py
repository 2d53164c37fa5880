"""From a config's ``data`` section to a prepared dataset: validation, data directory, building.

SynthFACS is generated on the spot (it needs no files); the licensed datasets are built from the
user's copy in ``data.manual_dir`` once and then read from ``data.data_dir``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Sequence

from jaxau import io_utils, validate
from jaxau.data import registry


def check(config: Any) -> None:
    """Validates ``config.data`` (name known, AUs valid and labelled, directories present)."""
    name = config.data.name
    try:
        entry = registry.get(name)
    except KeyError as e:
        raise validate.ConfigError(f"config.data.name: {e.args[0]}") from None
    aus = validate.au_names(config, "data.aus")
    missing = [a for a in aus if a not in entry.au_names]
    if missing:
        raise validate.ConfigError(f"config.data.aus: {missing} are not labelled in {name!r} (it has "
                                   f"{', '.join(entry.au_names)}); pass --config.data.aus=...")
    if entry.manual_download:
        if not config.data.get("data_dir"):
            raise validate.ConfigError(f"config.data.data_dir is required for {name!r} (licensed data, built "
                                       "from your copy): pass --config.data.data_dir=/path/to/tfds.")
        if config.data.get("manual_dir"):
            # First use: the build reads the user's copy and writes data_dir.
            manual = validate.existing_dir(config, "data.manual_dir", what=f"your copy of {name} (manual_dir)")
            if not any(files for _, _, files in os.walk(manual)):
                raise validate.ConfigError(f"config.data.manual_dir={config.data.manual_dir!r} holds no files: "
                                           f"point it at your copy of {name} in its official layout "
                                           "(README 'Real datasets').")
            os.makedirs(os.path.expanduser(config.data.data_dir), exist_ok=True)
        else:
            validate.existing_dir(config, "data.data_dir", what="TFDS data directory")


def fingerprint(config: Any) -> dict:
    """What shapes ``config.data.name``'s frames beyond the config's own fields (the data stage's key).

    For SynthFACS the rendered frames follow from the domain config (subjects per split, sessions,
    views, sizes, ...) and the generator's version, both in the code: their content goes into the
    key, so that a changed config never reuses an old build. Licensed datasets are the user's files
    (named by ``data_dir`` / ``manual_dir`` in the config): nothing to add (empty dict).
    """
    from jaxau.face import synth

    name = str(config.data.name)
    base, _, config_name = name.partition("/")
    if base != "synthfacs":
        return {}
    try:
        fields = dataclasses.asdict(synth.get_config(config_name or registry.get(name).configs[0]))
    except KeyError:
        return {}  # An unknown name: `check` reports it in one line before anything runs.
    return {"synthfacs_version": synth.VERSION, "synthfacs_config": io_utils.settings_key(fields)}


def data_dir(config: Any, workdir: str) -> str:
    """``config.data.data_dir``, or ``<parent of workdir>/tfds`` when empty (shared by sibling runs)."""
    d = config.data.get("data_dir") or os.path.join(os.path.dirname(os.path.abspath(workdir)), "tfds")
    os.makedirs(d, exist_ok=True)
    return d


def ensure_built(name: str, directory: str, manual_dir: str | None = None) -> Any:
    """Builds the dataset into ``directory`` if it is not there yet; returns its builder."""
    import tensorflow_datasets as tfds

    builder = registry.builder(name, data_dir=directory)
    if not builder.is_prepared():
        remove_stale_builds(builder)
        logging.info("Building %s into %s", name, directory)
        config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
        builder.download_and_prepare(download_config=config)
    return builder


def remove_stale_builds(builder: Any) -> list[str]:
    """Deletes the ``incomplete.*_<version>`` directories killed builds of ``builder`` left behind.

    TFDS writes a build into such a directory and renames it when done; one that is still there
    when the dataset is not prepared belongs to a build that died (builds of one data directory run
    one at a time: the data stage is a single process's work). Returns the deleted paths.
    """
    import glob
    import shutil

    parent = os.path.dirname(os.fspath(builder.data_dir).rstrip("/"))
    stale = sorted(glob.glob(os.path.join(parent, f"incomplete.*_{builder.version}")))
    for path in stale:
        logging.warning("Removing %s, left by a dataset build that was interrupted.", path)
        shutil.rmtree(path, ignore_errors=True)
    return stale


def poses(spec: str | Sequence[int] | None) -> list[int] | None:
    """'' / None -> all poses; '0' / '0,4' / [0, 4] -> pose ids."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, str):
        try:
            return [int(p) for p in spec.replace(",", " ").split()]
        except ValueError:
            raise validate.ConfigError(f"pose list {spec!r} must be integers like '0' or '0,4'.") from None
    return [int(p) for p in spec]
