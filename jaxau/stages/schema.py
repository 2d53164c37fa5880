"""The config fields each stage reads, section by section: the pipeline's config schema.

``configs/paper/base.py`` sets every field listed here, at every size, and every experiment and
standalone config derives from it. Stages read these fields without defaults and refuse a config
that lacks one (`require`, run by `jaxau.stages.runner.Stage.check_config` for every stage before the first one
runs, and by the launchers through the same method), so a stage's
output is decided only by values its key hashes (`jaxau.stages.runner.stage_key`): a default changed
in library code can never leave a stale cached stage behind. The library modules keep defaults
(`jaxau.train.generator.DEFAULTS`, `jaxau.train.prnet.DEFAULTS`, `jaxau.train.estimator.DEFAULTS`)
only for direct library calls; the field lists here are derived from them so the two cannot drift.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from jaxau.stages import augment
from jaxau.train import estimator, generator, prnet
from jaxau.validate import ConfigError

# Top-level fields (the run's seed draws every stage's randomness).
TOP_LEVEL = ("seed",)

SECTIONS: Mapping[str, tuple[str, ...]] = {
    "data": ("name", "manual_dir", "data_dir", "aus", "image_size", "test_poses", "train_poses"),
    "registration": ("domain",) + tuple(prnet.DEFAULTS),
    "align": ("batch_size", "chunk_size", "boxes", "max_fit_error", "face_scale", "oracle_frames", "registration"),
    "align2d": ("pose", "mask"),
    "align3d": ("occluded_black", "pose", "sampling", "visibility", "context", "fill"),
    "generator": tuple(generator.DEFAULTS),
    "synthesis": ("per_level", "batch_size", "chunk_size", "targets", "fidelity_per_cell", "source_domain"),
    "oracle": ("strength", "expression_aus", "direction"),
    "augment": tuple(augment.DEFAULTS),
    "estimator": tuple(estimator.REQUIRED) + tuple(estimator.DEFAULTS) + (
        "per_level", "synthetic_heads", "normalization", "train_poses"),
}
# Fields a stage derives when its section leaves them out (estimator.image_size: data.image_size,
# the registered frames' size the pipeline trains at; launchers set their own).
DERIVED = {"estimator": ("image_size",)}


def missing(config: Any, sections: Iterable[str]) -> dict[str, list[str]]:
    """``{section: [fields absent from config.<section>]}`` for the schema's sections among ``sections``."""
    out: dict[str, list[str]] = {}
    for name in sections:
        if name in TOP_LEVEL:
            if name not in config:
                out.setdefault("", []).append(name)
            continue
        fields = SECTIONS.get(name)
        if fields is None:
            continue
        section = config.get(name) if hasattr(config, "get") else None
        present = set(section) if section is not None else set()
        gone = [f for f in fields if f not in present and f not in DERIVED.get(name, ())]
        if gone:
            out[name] = gone
    return out


def require(config: Any, sections: Iterable[str]) -> None:
    """Raises `ConfigError` (one line) when ``config`` lacks a schema field of ``sections``."""
    gaps = missing(config, sections)
    if gaps:
        names = ", ".join(f"config.{s + '.' if s else ''}{f}" for s, fields in gaps.items() for f in fields)
        raise ConfigError(f"{names} not set: every stage field is defined in configs/paper/base.py; build "
                          "your config from base.base_config(size) (or add the field with a value).")
