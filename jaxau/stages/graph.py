"""Experiment graphs: the stages a paper experiment needs, wired per result column.

An experiment config lists result columns (``config.experiment.columns``), each a trained estimator
(or the generator's internal classifier) evaluated on a real test set::

    c.experiment.columns.synthetic_3d = dict(
        label="3D Synthetic",          # column title in the report
        train="synthetic:3d",          # what it trains on (grammar below)
        test="",                       # where it is tested ('' = the training registration, own data)
        overrides="",                  # 'generator.lambda_ids=0; estimator.normalization=au0'
        paper="table2/3D Synthetic")   # the paper's numbers for this column (jaxau.report.paper)

Training-set grammar (parts joined by ``+`` form a combined set, paper Tables S1/S2):

* ``real:<reg>[@<domain>]`` -- real frames, balanced per AU and level (``estimator.per_level``);
* ``synthetic:<reg>[@<domain>]`` -- GANimation trained on the main data's ``<reg>`` frames, sources
  for the semantic resampling taken from ``<domain>``'s frames (cross-domain synthesis, Table 4);
* ``oracle:<reg>[@<domain>]`` -- the same semantic-resampling plan as ``synthetic:<reg>``, each entry
  rendered exactly by SynthFACS with its target expression and registered like the sources (a
  perfect generator: `jaxau.synthesis.oracle`); SynthFACS sources (and targets) only;
* ``regenerated:<reg>[@<domain>]`` -- that oracle set drawn again by ``synthetic:<reg>``'s generator with
  each image's own target labels (stage ``regenerate``): exact expressions in the generator's hand, what
  it adds to an image apart from the edits it draws; SynthFACS only, like ``oracle``;
* ``augmented`` -- the 3-D synthetic set re-rendered at every head pose and 2-D normalised
  (Fig. 5 scenario c);
* ``internal`` -- no estimator: the GANimation critic's AU regressor (Table S4).

``<reg>`` is ``raw`` (no registration), ``2d`` or ``3d``. A test spec is ``<reg>[@<domain>][/all]``;
``/all`` tests on every split of that domain (the paper tests on the whole of DISFA and UNBC).
Domains are named in ``config.domains``: each entry overrides fields of ``config.data`` (''
= ``config.data`` itself). The registration network trains on ``config.registration.domain``
(`registration_domain`).

Every node's directory is named by the content hash of its config and inputs
(`jaxau.stages.runner.GraphBuilder`), so columns, experiments and sweeps sharing a root share every stage
they have in common: a lambda sweep trains one registration network and one 3-D registration, and
only the generators, syntheses and estimators that differ.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import logging
from typing import Any

import ml_collections

from jaxau.stages import runner as pipeline
from jaxau import au as au_lib
from jaxau.validate import ConfigError

REGISTRATIONS = ("raw", "2d", "3d")
# Training-set kinds made by resampling the real frames (each trains on a ``synthetic.frames`` set).
GENERATED_KINDS = ("synthetic", "oracle", "regenerated")
# Of those, the kinds rendered by SynthFACS (they exist only where sources and targets are SynthFACS).
RENDERED_KINDS = ("oracle", "regenerated")
STAGE_FOR_REGISTRATION = {"raw": "frames_raw", "2d": "register_2d", "3d": "register_3d"}

# The main job's columns (configs/demo.py and any config without an experiment section).
DEFAULT_COLUMNS = (
    ("real_raw", "Real, no registration", "real:raw"),
    ("real_2d", "Real, 2D registration", "real:2d"),
    ("real_3d", "Real, 3D registration", "real:3d"),
    ("synthetic_3d", "Synthetic, 3D registration", "synthetic:3d"),
    ("oracle_3d", "Oracle synthetic, 3D registration", "oracle:3d"),
)


@dataclasses.dataclass(frozen=True)
class Column:
    """One result column of an experiment (see the module docstring for the fields)."""

    id: str
    label: str
    train: str
    test: str = ""
    overrides: str = ""
    paper: str = ""


@dataclasses.dataclass(frozen=True)
class Planned:
    """An experiment graph: the nodes in run order and, per column, the node that scores it."""

    nodes: list[pipeline.Node]
    columns: list[Column]
    outputs: dict[str, str]    # column id -> node name of its scores (score or internal stage)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # column id -> why it has no graph
    # column id -> the score nodes of its estimator trained with seeds seed, seed + 1, ...
    # (``experiment.seeds``; the first is ``outputs[id]``).
    replicates: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def targets(self, names: list[str]) -> list[str]:
        """``--stages`` entries as `jaxau.stages.runner.run_graph` targets: a column id becomes the
        score nodes of all its seeds; stage and node names pass through."""
        return [n for name in names for n in (self.replicates.get(name) or [self.outputs.get(name, name)])]

    def training_synthesis(self, column: str) -> pipeline.Node | None:
        """The synthesis node whose set trains ``column``'s (first) estimator; None when the column
        is not planned or trains on no generated set (real, oracle, internal columns).

        Table 2 plans a 2-D and a 3-D synthesis; each synthetic column trains on its own.
        """
        score = self.outputs.get(column)
        if score is None:
            return None
        by_name = {n.name: n for n in self.nodes}
        model = by_name[score].deps.get("model")
        if model is None:
            return None
        return next((by_name[d] for d in by_name[model].deps.values() if by_name[d].stage.name == "synthesis"), None)


def columns(config: Any) -> list[Column]:
    """The experiment's columns (the main job's four when the config has none)."""
    exp = config.get("experiment")
    spec = exp.get("columns") if exp is not None else None
    if not spec:
        # Oracle sets exist only for SynthFACS data (a real dataset's main job has the other four).
        synthetic = str(config.data.name).startswith("synthfacs/")
        return [Column(i, label, train) for i, label, train in DEFAULT_COLUMNS
                if synthetic or not train.startswith("oracle:")]
    out = []
    for cid, col in spec.items():
        col = dict(col)
        unknown = set(col) - {f.name for f in dataclasses.fields(Column)} - {"id"}
        if unknown:
            raise ConfigError(f"config.experiment.columns.{cid} has unknown fields {sorted(unknown)}; "
                              "known: label, train, test, overrides, paper.")
        if not col.get("train"):
            raise ConfigError(f"config.experiment.columns.{cid}.train is empty: e.g. 'synthetic:3d'.")
        out.append(Column(cid, str(col.get("label") or cid), str(col["train"]), str(col.get("test", "")),
                          str(col.get("overrides", "")), str(col.get("paper", ""))))
    return _ordered(out, str(exp.get("column_order", "") or ""))


def _ordered(cols: list[Column], order: str) -> list[Column]:
    """``cols`` in ``experiment.column_order`` (ids, comma-separated); unlisted ones after, as given."""
    ids = [i.strip() for i in order.split(",") if i.strip()]
    known = {c.id for c in cols}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ConfigError(f"config.experiment.column_order names {unknown}, which are not columns; "
                          f"columns: {sorted(known)}.")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"config.experiment.column_order={order!r} lists a column twice.")
    rank = {cid: n for n, cid in enumerate(ids)}
    return sorted(cols, key=lambda c: rank.get(c.id, len(ids)))


def parse_overrides(text: str) -> list[tuple[str, Any]]:
    """``'a.b=1; c.d=au0'`` -> ``[('a.b', 1), ('c.d', 'au0')]`` (values as Python literals or strings)."""
    out = []
    for item in filter(None, (s.strip() for s in str(text).split(";"))):
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"override {item!r}: write 'section.field=value' (';' between overrides).")
        raw = raw.strip()
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.append((path.strip(), value))
    return out


def _copy(config: Any) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(config.to_dict() if hasattr(config, "to_dict") else dict(config))


def _coerce(current: Any, value: Any) -> Any:
    """``value`` in the type of the field it replaces; only lossless conversions (int -> float,
    anything -> str) are made, anything else is a TypeError."""
    if isinstance(current, bool) or isinstance(value, bool):
        if type(current) is not type(value):
            raise TypeError(f"expected {type(current).__name__}, got {type(value).__name__}")
        return value
    if isinstance(current, float) and isinstance(value, int):
        return float(value)
    if isinstance(current, str) and not isinstance(value, str):
        return str(value)
    if current is not None and not isinstance(value, type(current)):
        raise TypeError(f"expected {type(current).__name__}, got {type(value).__name__}")
    return value


def apply_overrides(config: Any, text: str, where: str = "overrides") -> ml_collections.ConfigDict:
    """A copy of ``config`` with dotted-path overrides applied (the path must exist).

    Derived fields (``get_ref`` expressions, e.g. the CPU estimator's warm-up, 1/12 of
    ``num_steps``) follow an overridden field as they do for ``--config.<field>`` on the command line.
    """
    if isinstance(config, ml_collections.ConfigDict):
        out = copy.deepcopy(config)  # keeps the references that `_copy` would resolve into values
        out.unlock()
    else:
        out = _copy(config)
    for path, value in parse_overrides(text):
        parent, _, leaf = path.rpartition(".")
        node = out
        try:
            for part in filter(None, parent.split(".")):
                node = node[part]
            if leaf not in node:
                raise KeyError(leaf)
            node[leaf] = _coerce(node[leaf], value)
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: cannot set {path}={value!r} ({e}); the field must exist in the config.") from None
    return out


def domain_config(config: Any, domain: str) -> ml_collections.ConfigDict:
    """``config`` with ``data`` replaced by the named domain's data section ('' = unchanged)."""
    out = _copy(config)
    if not domain:
        return out
    domains = config.get("domains") or {}
    if domain not in domains:
        raise ConfigError(f"domain {domain!r} is not defined: add config.domains.{domain} (fields of "
                          f"config.data that differ, e.g. name='synthfacs/disfa'); defined: {sorted(domains)}.")
    data = dict(out.data)
    data.update(dict(domains[domain]))
    out.data = ml_collections.ConfigDict(data)
    return out


def registration_domain(config: Any) -> str:
    """The domain the registration network trains on.

    ``config.registration.domain``: a domain name, '' (the main data) or ``'auto'``: the main data
    when it is SynthFACS, else ``domains.synthfacs`` (real datasets have no meshes to train on).
    """
    domain = str(config.registration.domain)
    if domain == "auto":
        is_synthetic = str(config.data.name).startswith("synthfacs/")
        domain = "" if is_synthetic or "synthfacs" not in (config.get("domains") or {}) else "synthfacs"
    return domain


def _parse_part(part: str, where: str) -> tuple[str, str, str]:
    """``'synthetic:3d@multipie'`` -> ``('synthetic', '3d', 'multipie')``."""
    kind, _, rest = part.strip().partition(":")
    reg, _, domain = rest.partition("@")
    if kind in ("augmented", "internal"):
        if rest:
            raise ConfigError(f"{where}: {kind!r} takes no registration/domain (it is built from 'synthetic:3d').")
        return kind, "3d", ""
    if kind not in ("real",) + GENERATED_KINDS or reg not in REGISTRATIONS:
        raise ConfigError(f"{where}: {part!r} is not one of real:<reg>[@domain], synthetic:<reg>[@domain], "
                          f"oracle:<reg>[@domain], regenerated:<reg>[@domain], augmented, internal "
                          f"(reg in {REGISTRATIONS}).")
    return kind, reg, domain


def _parse_test(spec: str, default_reg: str, where: str) -> tuple[str, str, str]:
    """``'3d@disfa/all'`` -> ``('3d', 'disfa', 'train,validation,test')``."""
    body, _, splits = spec.partition("/")
    reg, _, domain = body.partition("@")
    reg = reg or default_reg
    if reg not in REGISTRATIONS:
        raise ConfigError(f"{where}: test registration {reg!r} must be one of {REGISTRATIONS}.")
    if splits not in ("", "all"):
        raise ConfigError(f"{where}: test split suffix {splits!r}: use '/all' or nothing (test split).")
    return reg, domain, "train,validation,test" if splits == "all" else "test"


class _Builder:
    def __init__(self, stages: dict[str, pipeline.Stage], base: Any = None):
        self.stages = stages
        self.g = pipeline.GraphBuilder()
        self.base = base  # the experiment's config before column overrides

    def add(self, stage: str, config, deps=None) -> str:
        return self.g.add(self.stages[stage], config, deps)

    def data(self, dcfg) -> str:
        """The data node of a domain config (`domain_config`)."""
        return self.add("data", dcfg)

    def registration(self, config) -> str:
        dcfg = domain_config(config, registration_domain(config))
        name = str(dcfg.data.name)
        if not name.startswith("synthfacs/"):
            raise ConfigError(
                f"the registration network trains on exact meshes, which {name!r} does not have: train "
                "it on SynthFACS with --config.registration.domain=synthfacs (config.domains.synthfacs.name "
                "names the SynthFACS set, e.g. 'synthfacs/fera').")
        return self.add("registration", dcfg, {"data": self.data(dcfg)})

    def frames(self, config, reg: str, domain: str) -> str:
        dcfg = domain_config(config, domain)
        deps = {"data": self.data(dcfg)}
        if reg != "raw":
            deps["registration"] = self.registration(config)
        return self.add(STAGE_FOR_REGISTRATION[reg], dcfg, deps)

    def generator(self, config, reg: str) -> str:
        deps = {"frames": self.frames(config, reg, "")}
        if str(config.generator.get("partners", "")) == "oracle" and reg != "raw":
            # Exact partner renders are registered by the frames' own registration network.
            deps["registration"] = self.registration(config)
        return self.add("generator", config, deps)

    def real_estimator(self, config, reg: str) -> str:
        """The estimator trained on the main data's real ``<reg>`` frames (a ``real:<reg>`` column's)."""
        frames = self.frames(config, reg, "")
        deps = {"validation": frames, "train_real0": frames}
        if reg != "raw":
            deps["registration"] = self.registration(config)
        return self.add("estimator", config, deps)

    def _resampling(self, config, reg: str, source_domain: str) -> tuple[ml_collections.ConfigDict, dict]:
        """The config and input roles shared by the synthesis and oracle stages of one plan."""
        cfg = _copy(config)
        cfg.synthesis.source_domain = source_domain
        deps = {"sources": self.frames(config, reg, source_domain)}
        if source_domain:  # Target label vectors still come from the generator's own training frames.
            deps["targets"] = self.frames(config, reg, "")
        if reg != "raw":
            deps["registration"] = self.registration(config)
        return cfg, deps

    def synthesis(self, config, reg: str, source_domain: str) -> str:
        cfg, deps = self._resampling(config, reg, source_domain)
        deps["generator"] = self.generator(config, reg)
        if reg == "raw":
            deps.pop("registration", None)
        # Generator fidelity against oracle renders (SynthFACS sources only) and the edit-scale
        # calibration (any data) read with the real-frame estimator of the same registration.
        fidelity = int(config.synthesis.fidelity_per_cell) > 0 and _is_synthfacs(
            domain_config(config, source_domain)) and _is_synthfacs(config)
        if fidelity or bool(config.synthesis.get("calibrate_edit_scale", False)):
            # The reader is the experiment's own real estimator (column overrides of the estimator
            # section, e.g. Table 3's normalisations, do not change the synthetic set).
            rcfg = _copy(config)
            if self.base is not None:
                rcfg.estimator = _copy(self.base.estimator)
            deps["reader"] = self.real_estimator(rcfg, reg)
        if not fidelity:
            deps.pop("registration", None)
        return self.add("synthesis", cfg, deps)

    def oracle(self, config, reg: str, source_domain: str, where: str) -> str:
        for dcfg in (domain_config(config, source_domain), config):
            if not _is_synthfacs(dcfg):
                raise ConfigError(f"{where}: oracle sets render SynthFACS frames exactly, but "
                                  f"{dcfg.data.name!r} is not SynthFACS: use synthetic:{reg} for other datasets.")
        cfg, deps = self._resampling(config, reg, source_domain)
        return self.add("oracle", cfg, deps)

    def regenerate(self, config, reg: str, source_domain: str, where: str) -> str:
        """The oracle set of ``oracle`` drawn again by the generator of ``synthesis``."""
        cfg, deps = self._resampling(config, reg, source_domain)
        deps["set"] = self.oracle(config, reg, source_domain, where)
        deps["generator"] = self.generator(config, reg)
        return self.add("regenerate", cfg, deps)


def _is_synthfacs(config) -> bool:
    return str(config.data.name).startswith("synthfacs/")


def _eval_config(config, test_domain: str, splits: str) -> ml_collections.ConfigDict:
    """The scoring settings a column's test set implies: its splits, poses and labelled AUs."""
    test_data = domain_config(config, test_domain).data
    main = au_lib.parse_aus(config.data.aus)
    labelled = au_lib.parse_aus(test_data.aus)
    out = _copy(config)
    out.eval = ml_collections.ConfigDict({
        "splits": splits, "poses": str(test_data.get("test_poses", "") or ""),
        "aus": ",".join(a for a in main if a in labelled), "domain": test_domain})
    return out


def num_seeds(config: Any) -> int:
    """``config.experiment.seeds``: estimators trained per column (seeds ``seed .. seed + n - 1``)."""
    exp = config.get("experiment")
    value = exp.get("seeds", 1) if exp is not None else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"config.experiment.seeds={value!r} must be a positive integer (1 = one "
                          "estimator per column): pass e.g. --config.experiment.seeds=3.")
    return value


def plan(config: Any, stages: dict[str, pipeline.Stage]) -> Planned:
    """The experiment graph of ``config`` (see the module docstring).

    With ``config.experiment.seeds = n`` every estimator column trains ``n`` estimators, with seeds
    ``config.seed + r`` (r < n), on the same training set (registration, generator and synthesis
    keep ``config.seed``: the spread is the estimator's), each scored on the same test frames.
    """
    b = _Builder(stages, config)
    seeds = num_seeds(config)
    cols = []
    outputs, skipped, replicates = {}, {}, {}
    for col in columns(config):
        where = f"config.experiment.columns.{col.id}"
        cfg = apply_overrides(config, col.overrides, f"{where}.overrides")
        parts = [_parse_part(p, f"{where}.train") for p in col.train.split("+")]
        kinds = [k for k, _, _ in parts]
        not_synthfacs = sorted({str(dcfg.data.name) for kind, _, domain in parts if kind in RENDERED_KINDS
                                for dcfg in (domain_config(cfg, domain), cfg) if not _is_synthfacs(dcfg)})
        if not_synthfacs:
            # Oracle sets are SynthFACS renders: on other data the column cannot exist (one line, no graph).
            skipped[col.id] = (f"{where}.train={col.train!r}: oracle sets render SynthFACS frames exactly, but "
                               f"{', '.join(map(repr, not_synthfacs))} is not SynthFACS; column left out.")
            logging.warning("%s", skipped[col.id])
            continue
        cols.append(col)
        if ("internal" in kinds or "augmented" in kinds) and len(parts) > 1:
            raise ConfigError(f"{where}.train: 'internal' and 'augmented' cannot be combined with other sets.")
        default_reg = "2d" if kinds == ["augmented"] else parts[0][1]
        test_reg, test_domain, splits = _parse_test(col.test, default_reg, f"{where}.test")
        ecfg = _eval_config(cfg, test_domain, splits)
        if not ecfg.eval.aus:
            raise ConfigError(f"{where}: the test domain {test_domain!r} labels none of config.data.aus.")
        test = b.frames(cfg, test_reg, test_domain)
        if kinds == ["internal"]:
            outputs[col.id] = b.add("internal", ecfg, {"generator": b.generator(cfg, "3d"), "test": test})
            replicates[col.id] = [outputs[col.id]]
            continue
        val_reg = parts[0][1] if kinds != ["augmented"] else "2d"
        deps = {"validation": b.frames(cfg, val_reg, "")}
        if val_reg != "raw":  # recorded with the model, so launch/predict.py registers frames the same way
            deps["registration"] = b.registration(cfg)
        for i, (kind, reg, domain) in enumerate(parts):
            if kind == "real":
                deps[f"train_real{i}"] = b.frames(cfg, reg, domain)
            elif kind in GENERATED_KINDS:
                deps[f"train_set{i}"] = (b.synthesis(cfg, reg, domain) if kind == "synthetic"
                                         else b.oracle(cfg, reg, domain, f"{where}.train") if kind == "oracle"
                                         else b.regenerate(cfg, reg, domain, f"{where}.train"))
                # The real frames the set was resampled from: personal normalisation's references.
                deps[f"sources{i}"] = b.frames(cfg, reg, domain)
            else:  # augmented
                deps[f"train_set{i}"] = b.add("augment", cfg, {"synthesis": b.synthesis(cfg, "3d", "")})
        replicates[col.id] = []
        for r in range(seeds):
            rcfg = cfg
            if r:
                rcfg = _copy(cfg)
                rcfg.seed = int(cfg.seed) + r
            model = b.add("estimator", rcfg, deps)
            replicates[col.id].append(b.add("score", ecfg, {"model": model, "test": test}))
        outputs[col.id] = replicates[col.id][0]
    return Planned(b.g.graph(), cols, outputs, skipped, replicates)
