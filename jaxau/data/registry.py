"""Dataset names -> TFDS builders, their AU vocabularies and poses, without importing any builder.

The trainer, the evaluation and ``launch/register.py`` resolve datasets by name here. Importing this
module is cheap (no TensorFlow): a builder module is imported only by :func:`builder_class` /
:func:`builder`, because importing it loads TFDS and registers the dataset name with TFDS.

Names may carry a config, TFDS style: ``'disfa/right'``, ``'synthfacs/fera_small'``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any, Mapping

from jaxau import au as au_lib

_NAN = math.nan


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """What jaxau knows about a dataset before its builder is imported.

    Attributes:
      name: TFDS name.
      module: module defining the builder.
      class_name: builder class in ``module``; None = the one builder class defined there.
      configs: builder config names (first = the builder's default, as TFDS picks it).
      au_names: AU columns of ``au_intensity`` for the default config (empty when the dataset has
        no AU labels).
      occurrence_au_names: AU columns of ``au_occurrence`` (empty if the builder has none).
      poses: pose id -> (description, yaw degrees, pitch degrees); NaN where unknown.
      splits: the splits a default build produces.
      manual_download: True for licensed data the user places in ``manual_dir``.
      config_au_names: AU columns of configs whose AUs differ from ``au_names``.
    """

    name: str
    module: str
    class_name: str | None
    configs: tuple[str, ...]
    au_names: tuple[str, ...]
    occurrence_au_names: tuple[str, ...] = ()
    poses: Mapping[int, tuple[str, float, float]] = dataclasses.field(default_factory=dict)
    splits: tuple[str, ...] = ("train",)
    manual_download: bool = True
    config_au_names: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


_FERA_OCC = ("AU01", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23")
_BP4D_OCC = ("AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23",
             "AU24")
# SynthFACS labels each domain with that domain's AUs (jaxau.data.synthfacs; the registry test
# checks these against the builder's metadata).
_SYNTH_MULTIPIE_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU17",
                       "AU20", "AU25", "AU26")
_SYNTH_UNBC_AUS = ("AU04", "AU06", "AU07", "AU09", "AU10", "AU12", "AU20", "AU25", "AU26")
_SYNTH_CONFIG_AUS = {"fera": au_lib.FERA2017_AUS, "fera_small": au_lib.FERA2017_AUS,
                     "fera_demo": au_lib.FERA2017_AUS, "fera_frontal": au_lib.FERA2017_AUS,
                     "fera_demo_large": au_lib.FERA2017_AUS, "fera_medium": au_lib.FERA2017_AUS,
                     "unbc": _SYNTH_UNBC_AUS, "unbc_small": _SYNTH_UNBC_AUS,
                     "disfa": au_lib.DISFA_AUS, "disfa_small": au_lib.DISFA_AUS,
                     "multipie": _SYNTH_MULTIPIE_AUS, "multipie_small": _SYNTH_MULTIPIE_AUS}
_FRONTAL = {0: ("single camera (angles not given by the dataset)", _NAN, _NAN)}

REGISTRY: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry("synthfacs", "jaxau.data.synthfacs", None,
                 ("fera", "fera_small", "fera_demo", "disfa", "disfa_small", "unbc", "unbc_small", "multipie",
                  "multipie_small", "fera_frontal", "fera_demo_large", "fera_medium"),
                 au_lib.FERA2017_AUS, splits=("train", "validation", "test"), manual_download=False,
                 config_au_names=_SYNTH_CONFIG_AUS),
    DatasetEntry("fera2017", "jaxau.data.builders.fera2017", "Fera2017", ("default",),
                 au_lib.FERA2017_AUS, _FERA_OCC,
                 {p: (f"FERA 2017 view {p} (angles unknown)", _NAN, _NAN) for p in range(1, 10)},
                 splits=("train", "validation", "test")),
    DatasetEntry("bp4d", "jaxau.data.builders.bp4d", "Bp4d", ("default",),
                 au_lib.BP4D_INTENSITY_AUS, _BP4D_OCC, _FRONTAL, splits=("train", "validation")),
    DatasetEntry("bp4d_plus", "jaxau.data.builders.bp4d_plus", "Bp4dPlus", ("default",),
                 au_lib.BP4D_INTENSITY_AUS, _BP4D_OCC, _FRONTAL),
    DatasetEntry("disfa", "jaxau.data.builders.disfa", "Disfa", ("left", "right"), au_lib.DISFA_AUS,
                 poses={0: ("left camera (angles unknown)", _NAN, _NAN),
                        1: ("right camera (angles unknown)", _NAN, _NAN)}),
    DatasetEntry("unbc_pain", "jaxau.data.builders.unbc_pain", "UnbcPain", ("default",),
                 ("AU04", "AU06", "AU07", "AU09", "AU10", "AU12", "AU20", "AU25", "AU26", "AU43"),
                 poses=_FRONTAL),
    DatasetEntry("multipie", "jaxau.data.builders.multipie", "MultiPie", ("default",), (),
                 poses={0: ("high-res frontal camera", 0.0, 0.0)}),
    DatasetEntry("w300lp", "jaxau.data.builders.w300lp", "W300lp", ("default",), ()),
)}


def _split_name(name: str) -> tuple[str, str | None]:
    base, _, config = name.partition("/")
    return base, (config or None)


def names() -> tuple[str, ...]:
    """All registered dataset names."""
    return tuple(sorted(REGISTRY))


def get(name: str) -> DatasetEntry:
    """The entry for ``name`` (``'disfa'`` or ``'disfa/right'``).

    Raises:
      KeyError: naming the registered datasets, or the valid configs of ``name``.
    """
    base, config = _split_name(name)
    if base not in REGISTRY:
        raise KeyError(f"Unknown dataset {name!r}; registered: {', '.join(names())}.")
    entry = REGISTRY[base]
    if config is not None and config not in entry.configs:
        raise KeyError(f"Dataset {base!r} has no config {config!r}; configs: {list(entry.configs)}.")
    return entry


def au_names(name: str) -> tuple[str, ...]:
    """The AU columns of ``au_intensity`` for ``name`` (``'synthfacs/disfa'``; no config = the
    builder's default config, as in TFDS)."""
    entry = get(name)
    _, config = _split_name(name)
    return entry.config_au_names.get(config or entry.configs[0], entry.au_names)


def common_aus(train_name: str, test_name: str) -> tuple[str, ...]:
    """AUs labelled in both datasets, in the training set's order (e.g. FERA 2017 -> DISFA gives
    AU01 AU04 AU06 AU12 AU17, the paper's Table 4)."""
    return au_lib.shared_aus(au_names(train_name), au_names(test_name))


def pose_info(name: str) -> Mapping[int, tuple[str, float, float]]:
    """Pose id -> (description, yaw, pitch) in degrees (NaN where unknown)."""
    return get(name).poses


def builder_class(name: str) -> type:
    """Imports and returns the TFDS builder class of ``name`` (this loads TensorFlow Datasets).

    Raises:
      ImportError: if the builder module is missing, naming it.
      LookupError: if the module does not define exactly one matching builder class.
    """
    entry = get(name)
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError as e:
        if e.name and entry.module.startswith(e.name):
            raise ImportError(f"Dataset {entry.name!r}: its builder module {entry.module!r} is not "
                              "available in this installation.") from e
        raise
    if entry.class_name is not None:
        return getattr(module, entry.class_name)
    import tensorflow_datasets as tfds

    candidates = [v for v in vars(module).values()
                  if isinstance(v, type) and issubclass(v, tfds.core.DatasetBuilder)
                  and v.__module__ == module.__name__ and getattr(v, "name", None)]
    named = [c for c in candidates if c.name == entry.name]
    found = named or candidates
    if len(found) != 1:
        raise LookupError(f"Dataset {entry.name!r}: expected one TFDS builder class in "
                          f"{entry.module}, found {[c.__name__ for c in found]}.")
    return found[0]


def builder(name: str, *, data_dir: str | None = None, **kwargs: Any):
    """An instance of the builder of ``name`` (config from ``'name/config'``, else the default)."""
    _, config = _split_name(name)
    cls = builder_class(name)
    if config is not None:
        kwargs["config"] = config
    return cls(data_dir=data_dir, **kwargs)
