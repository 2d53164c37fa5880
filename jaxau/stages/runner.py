"""Stages, their content-addressed caching, and running an experiment as a graph of stages.

A stage reads its inputs' artifact directories and writes its own under
``<root>/stages/<name>-<key>``, where ``key`` hashes the config subtrees the stage declares it depends
on, the stage's code version, and the keys of its inputs. An experiment is a graph of `Node`s (a stage
bound to a config and to the nodes filling its input roles; `jaxau.stages.graph` builds them from an
experiment config). Consequences:

* re-running an experiment skips every node whose key is unchanged (its ``DONE.json`` exists);
* experiments sharing a root share identical nodes (a sweep over the estimator does not redo
  registration or generator training; Table 3 after Table 2 trains two estimators);
* an interrupted stage resumes in place (its checkpoints live in its directory), and ``DONE.json`` is
  written atomically last, so a half-finished stage is never taken as done;
* a stage that raises is reported as failed and only its dependents are skipped;
* in a multi-host run every process runs every stage (trainers share each batch, offline stages
  their chunks: `jaxau.hosts`); process 0 writes ``DONE.json`` and the others wait for it and take
  its summary, or stop with the message of a process that failed.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import importlib
import json
import logging
import os
import time
from typing import Any, Callable, Mapping, Sequence

from jaxau import hosts, io_utils
from jaxau.validate import ConfigError

DONE_FILE = "DONE.json"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Attributes:
      name: unique stage name (also its directory prefix).
      description: one line for progress logs and reports.
      config_keys: dotted config paths whose values define this stage's output.
      deps: names of the stages whose outputs it reads.
      impl: ``"module:function"`` implementing ``fn(config, stage_dir, inputs) -> summary dict``,
        where ``inputs`` maps dependency names to their stage directories. Imported lazily.
      version: bump when the implementation changes its output for the same config.
      ignore: dotted paths inside ``config_keys`` that do not change this stage's output (e.g.
        ``data.test_poses`` for everything but scoring), left out of the hash so experiments that
        differ only there share the stage.
      neutral: ``(dotted path, value)`` pairs left out of the hash while the config holds that value
        (a setting added after stages were made, at the value that reproduces them: their keys hold).
      check: optional ``"module:function"``, ``fn(config)`` raising `jaxau.validate.ConfigError` for a
        config this stage cannot run with; `run_graph` calls every wanted node's check before the
        first stage runs, so a bad value fails in one line, not after the stages before it.
      schema: optional ``"module:function"``, ``fn(config, config_keys)`` raising
        `jaxau.validate.ConfigError` when the config lacks a field the stage reads (run before
        ``check``), so every value that shapes the output is in the hashed config.
      fingerprint: optional ``"module:function"``, ``fn(config) -> dict`` of what shapes the output
        besides the config's fields (code-side definitions such as a SynthFACS domain config); a
        non-empty result is part of the key.
    """

    name: str
    description: str
    config_keys: tuple[str, ...]
    deps: tuple[str, ...] = ()
    impl: str = ""
    version: int = 1
    ignore: tuple[str, ...] = ()
    neutral: tuple[tuple[str, Any], ...] = ()
    check: str = ""
    schema: str = ""
    fingerprint: str = ""

    def load(self) -> Callable[..., Mapping[str, Any]] | None:
        """The implementation, or None when that part of jaxau is not built (module missing)."""
        return _import_function(self.impl)

    def check_config(self, config: Any) -> None:
        """Runs the stage's schema and config checks (those it has and whose code is built)."""
        required = _import_function(self.schema) if self.schema else None
        if required is not None:
            required(config, self.config_keys)
        fn = _import_function(self.check) if self.check else None
        if fn is not None:
            fn(config)


def _import_function(spec: str) -> Callable[..., Any] | None:
    """``"module:function"`` imported, or None when the module is not built (missing)."""
    module_name, _, fn_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return None
        raise
    return getattr(module, fn_name, None)


def _lookup(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def stage_key(stage: Stage, config: Any, dep_keys: Sequence[str]) -> str:
    """Content hash of what defines a stage's output."""
    hashed = {k: _plain(_lookup(config, k)) for k in stage.config_keys}
    leave_out = [(path, None, False) for path in stage.ignore] + [(p, v, True) for p, v in stage.neutral]
    for path, value, only_at_value in leave_out:
        section, _, leaf = path.rpartition(".")
        node = hashed.get(section.split(".")[0]) if section else hashed
        for part in section.split(".")[1:] if section else ():
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node and (not only_at_value or node[leaf] == _plain(value)):
            node.pop(leaf)
    payload = {"stage": stage.name, "version": stage.version, "deps": list(dep_keys), "config": hashed}
    # What shapes the output beyond the config's fields (e.g. the SynthFACS domain definitions in
    # the code); left out when empty, so stages without it keep their keys.
    extra = _import_function(stage.fingerprint)(config) if stage.fingerprint else None
    if extra:
        payload["fingerprint"] = _plain(extra)
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class Node:
    """One instance of a stage in an experiment graph.

    Paper experiments run the same stage several times with different inputs or settings (2-D and
    3-D registration of two datasets, generators with and without the idiosyncratic loss, ...). A
    node binds a `Stage` to the config it sees and to the nodes that fill its input roles.

    Attributes:
      name: unique name in the graph; `GraphBuilder` uses ``<stage>-<key>``, so identical work
        (same stage, config and inputs) is one node however many experiment columns need it.
      stage: the stage it runs.
      config: the config the stage sees (an experiment's config with a domain's ``data`` section
        and a column's overrides applied).
      deps: role -> node name; the roles are what the implementation reads from ``inputs``.
      key: the content hash (`node_key`), also the suffix of the stage directory.
    """

    name: str
    stage: Stage
    config: Any
    deps: Mapping[str, str]
    key: str


def node_key(stage: Stage, config: Any, deps: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """A node's content hash: the stage's config subtrees plus its inputs' keys, by role.

    The stage's declared ``deps`` come first in their declared order (so a plain pipeline keeps the
    keys it always had); extra roles are appended as ``role=key``, sorted.
    """
    ordered = [keys[deps[r]] for r in stage.deps]
    ordered += [f"{r}={keys[deps[r]]}" for r in sorted(set(deps) - set(stage.deps))]
    return stage_key(stage, config, ordered)


class GraphBuilder:
    """Collects nodes in dependency order, merging identical ones (same stage, config and inputs)."""

    def __init__(self):
        self.nodes: dict[str, Node] = {}

    def add(self, stage: Stage, config: Any, deps: Mapping[str, str] | None = None) -> str:
        """Adds (or finds) the node running ``stage`` on ``config`` with ``deps``; returns its name."""
        deps = dict(deps or {})
        missing = [r for r in stage.deps if r not in deps]
        if missing:
            raise ValueError(f"stage {stage.name!r} needs inputs {missing}; given {sorted(deps)}.")
        key = node_key(stage, config, deps, {n: self.nodes[n].key for n in deps.values()})
        name = f"{stage.name}-{key}"
        if name not in self.nodes:
            self.nodes[name] = Node(name, stage, config, deps, key)
        return name

    def graph(self) -> list[Node]:
        return list(self.nodes.values())


@dataclasses.dataclass
class StageResult:
    name: str
    status: str            # 'done' (ran now), 'cached', 'not built', 'blocked', 'failed'
    directory: str | None
    seconds: float
    summary: Mapping[str, Any]
    message: str = ""
    stage: str = ""        # the stage a graph node runs (== name for a plain pipeline)


def run_pipeline(stages: Sequence[Stage], config: Any, root: str, *,
                 only: Sequence[str] | None = None) -> list[StageResult]:
    """Runs ``stages`` in order under ``root`` with one config, reusing finished ones.

    Each stage's inputs are the stages named in its ``deps`` (role == stage name). A stage whose
    implementation is not built yet is reported as ``'not built'`` and everything that depends on
    it as ``'blocked'``; the others still run. ``only`` restricts execution to the named stages
    (their dependencies must already be done or are run first).
    """
    nodes, keys = [], {}
    for stage in stages:
        if any(d not in keys for d in stage.deps):
            raise ValueError(f"stage {stage.name!r} depends on {stage.deps}, not all listed before it.")
        deps = {d: d for d in stage.deps}
        keys[stage.name] = node_key(stage, config, deps, keys)
        nodes.append(Node(stage.name, stage, config, deps, keys[stage.name]))
    return run_graph(nodes, root, only=only)


def run_graph(nodes: Sequence[Node], root: str, *, only: Sequence[str] | None = None,
              share: hosts.Share | None = None) -> list[StageResult]:
    """Runs graph ``nodes`` (dependencies first) under ``root``, reusing finished ones.

    ``only``: run just these nodes and what they need; an entry may be a node name or a stage name
    (every node of that stage). ``share``: this process's share of a multi-host run (default
    `jaxau.hosts.active`).
    """
    share = hosts.active() if share is None else share
    by_name = {n.name: n for n in nodes}
    results: dict[str, StageResult] = {}
    if only:
        stages_named = {n.stage.name for n in nodes}
        unknown = [o for o in only if o not in by_name and o not in stages_named]
        if unknown:
            raise ConfigError(f"--stages: unknown stage {unknown[0]!r}; use a stage name "
                              f"({', '.join(sorted(stages_named))}), a column id or a stage directory name.")
        wanted = set(_closure(by_name, [n.name for n in nodes if n.name in only or n.stage.name in only]))
    else:
        wanted = set(by_name)
    checked = set()
    for node in nodes:  # Every bad value fails here, before the first stage spends minutes.
        if node.name in wanted and (node.stage.name, node.key) not in checked:
            checked.add((node.stage.name, node.key))
            node.stage.check_config(node.config)
    for node in nodes:
        if node.name not in wanted:
            continue
        stage = node.stage
        missing = [d for d in node.deps.values()
                   if results.get(d) is None or results[d].status not in ("done", "cached")]
        if missing:
            results[node.name] = StageResult(node.name, "blocked", None, 0.0, {},
                                             f"needs {', '.join(missing)}", stage.name)
            logging.warning("[pipeline] %-22s blocked: needs %s", node.name, ", ".join(missing))
            continue
        directory = os.path.join(root, "stages", f"{stage.name}-{node.key}")
        done_path = os.path.join(directory, DONE_FILE)
        if os.path.exists(done_path):
            with open(done_path, encoding="utf-8") as f:
                record = json.load(f)
            results[node.name] = StageResult(node.name, "cached", directory, record.get("seconds", 0.0),
                                             record.get("summary", {}), "", stage.name)
            logging.info("[pipeline] %-22s cached (%s)", node.name, directory)
            continue
        fn = stage.load()
        if fn is None:
            results[node.name] = StageResult(node.name, "not built", None, 0.0, {},
                                             f"{stage.impl} is not built yet", stage.name)
            logging.warning("[pipeline] %-22s NOT BUILT YET (%s)", node.name, stage.impl)
            continue
        os.makedirs(directory, exist_ok=True)
        logging.info("[pipeline] %-22s running: %s -> %s", node.name, stage.description, directory)
        t0 = time.time()
        inputs = {role: results[d].directory for role, d in node.deps.items()}
        try:
            summary = dict(fn(node.config, directory, inputs) or {})
            if not share.leader:
                # The leader writes DONE.json once its part and the assembly are done.
                share.wait_for([done_path], directory, f"stage {node.name} (finished by process 0)")
                with open(done_path, encoding="utf-8") as f:
                    summary = json.load(f).get("summary", {})
        except Exception as e:  # noqa: BLE001 -- recorded, dependents blocked, the others still run.
            logging.exception("[pipeline] %-22s FAILED", node.name)
            message = failure_message(e, directory)
            logging.error("[pipeline] %-22s FAILED: %s", node.name, message)
            share.fail(directory, message)
            results[node.name] = StageResult(node.name, "failed", directory, time.time() - t0, {},
                                             message, stage.name)
            continue
        seconds = time.time() - t0
        if share.leader:
            io_utils.write_json(done_path, {"stage": stage.name, "key": node.key, "seconds": seconds,
                                            "summary": summary, "finished": time.time(), "inputs": inputs})
        results[node.name] = StageResult(node.name, "done", directory, seconds, summary, "", stage.name)
        logging.info("[pipeline] %-22s done in %.1f s", node.name, seconds)
    return [results[n.name] for n in nodes if n.name in results]


def _exception_chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def failure_message(e: BaseException, directory: str, limit: int = 300) -> str:
    """The one line recorded for a failed stage.

    A full disk is named as such wherever it hides in the exception chain (TensorStore and orbax wrap
    ENOSPC in long messages that would be cut before the telling words); anything else is the first
    line of the exception, at most ``limit`` characters.
    """
    for link in _exception_chain(e):
        if (isinstance(link, OSError) and link.errno == errno.ENOSPC) or "No space left on device" in str(link):
            where = getattr(link, "filename", None) or directory
            return (f"disk full (No space left on device) writing {where}: free space there and rerun "
                    "the same command; finished stages and checkpoints are kept.")
    return f"{type(e).__name__}: {e}".splitlines()[0][:limit]


def _closure(by_name: Mapping[str, Node], names: Sequence[str]) -> list[str]:
    out: list[str] = []

    def visit(n):
        for d in by_name[n].deps.values():
            visit(d)
        if n not in out:
            out.append(n)

    for n in names:
        visit(n)
    return out


def format_results(results: Sequence[StageResult]) -> str:
    """A plain-text table of stage outcomes (printed at the end of every pipeline run)."""
    lines = [f"{'stage':<28}{'status':<12}{'seconds':>9}  note"]
    for r in results:
        lines.append(f"{r.name:<28}{r.status:<12}{r.seconds:>9.1f}  {r.message or (r.directory or '')}")
    return "\n".join(lines)
