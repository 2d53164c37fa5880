"""Stages, their content-addressed caching, and running a paper experiment as a chain of stages.

A stage reads its dependencies' artifact directories and writes its own under
``<root>/stages/<name>-<key>``, where ``key`` hashes the config subtree the stage declares it depends
on, the stage's code version, and the keys of its dependencies. Consequences:

* re-running an experiment skips every stage whose key is unchanged (its ``DONE.json`` exists);
* two experiments sharing a root share identical stages (a sweep over the estimator does not redo
  registration or generator training);
* an interrupted stage resumes in place (its checkpoints live in its directory), and ``DONE.json`` is
  written atomically last, so a half-finished stage is never taken as done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import time
from typing import Any, Callable, Mapping, Sequence

from jaxau import io_utils

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
    """

    name: str
    description: str
    config_keys: tuple[str, ...]
    deps: tuple[str, ...] = ()
    impl: str = ""
    version: int = 1

    def load(self) -> Callable[..., Mapping[str, Any]] | None:
        """The implementation, or None when that part of jaxau is not built (module missing)."""
        module_name, _, fn_name = self.impl.partition(":")
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
    payload = {
        "stage": stage.name, "version": stage.version, "deps": list(dep_keys),
        "config": {k: _plain(_lookup(config, k)) for k in stage.config_keys},
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclasses.dataclass
class StageResult:
    name: str
    status: str            # 'done' (ran now), 'cached', 'not built', 'blocked', 'failed'
    directory: str | None
    seconds: float
    summary: Mapping[str, Any]
    message: str = ""


def run_pipeline(stages: Sequence[Stage], config: Any, root: str, *,
                 only: Sequence[str] | None = None) -> list[StageResult]:
    """Runs ``stages`` in order under ``root``, reusing finished ones.

    A stage whose implementation is not built yet is reported as ``'not built'`` and everything that
    depends on it as ``'blocked'``; the others still run. ``only`` restricts execution to the named
    stages (their dependencies must already be done or are run first).
    """
    by_name = {s.name: s for s in stages}
    keys: dict[str, str] = {}
    results: dict[str, StageResult] = {}
    wanted = _closure(by_name, only) if only else [s.name for s in stages]
    for stage in stages:
        if stage.name not in wanted:
            continue
        missing = [d for d in stage.deps if results.get(d) is None or results[d].status not in ("done", "cached")]
        if missing:
            results[stage.name] = StageResult(stage.name, "blocked", None, 0.0, {},
                                              f"needs {', '.join(missing)}")
            logging.warning("[pipeline] %-22s blocked: needs %s", stage.name, ", ".join(missing))
            continue
        key = stage_key(stage, config, [keys[d] for d in stage.deps])
        keys[stage.name] = key
        directory = os.path.join(root, "stages", f"{stage.name}-{key}")
        done_path = os.path.join(directory, DONE_FILE)
        if os.path.exists(done_path):
            with open(done_path, encoding="utf-8") as f:
                record = json.load(f)
            results[stage.name] = StageResult(stage.name, "cached", directory, record.get("seconds", 0.0),
                                              record.get("summary", {}))
            logging.info("[pipeline] %-22s cached (%s)", stage.name, directory)
            continue
        fn = stage.load()
        if fn is None:
            results[stage.name] = StageResult(stage.name, "not built", None, 0.0, {},
                                              f"{stage.impl} is not built yet")
            logging.warning("[pipeline] %-22s NOT BUILT YET (%s)", stage.name, stage.impl)
            continue
        os.makedirs(directory, exist_ok=True)
        logging.info("[pipeline] %-22s running: %s -> %s", stage.name, stage.description, directory)
        t0 = time.time()
        summary = dict(fn(config, directory, {d: results[d].directory for d in stage.deps}) or {})
        seconds = time.time() - t0
        io_utils.write_json(done_path, {"stage": stage.name, "key": key, "seconds": seconds,
                                        "summary": summary, "finished": time.time(),
                                        "inputs": {d: results[d].directory for d in stage.deps}})
        results[stage.name] = StageResult(stage.name, "done", directory, seconds, summary)
        logging.info("[pipeline] %-22s done in %.1f s", stage.name, seconds)
    return [results[s.name] for s in stages if s.name in results]


def stage_inputs(stage_dir: str) -> dict[str, str]:
    """The dependency directories a finished stage was run with (from its DONE.json)."""
    with open(os.path.join(stage_dir, DONE_FILE), encoding="utf-8") as f:
        return dict(json.load(f).get("inputs", {}))


def _closure(by_name: Mapping[str, Stage], names: Sequence[str]) -> list[str]:
    out: list[str] = []

    def visit(n):
        if n not in by_name:
            raise KeyError(f"Unknown stage {n!r}; stages are {sorted(by_name)}.")
        for d in by_name[n].deps:
            visit(d)
        if n not in out:
            out.append(n)

    for n in names:
        visit(n)
    return out


def format_results(results: Sequence[StageResult]) -> str:
    """A plain-text table of stage outcomes (printed at the end of every pipeline run)."""
    lines = [f"{'stage':<24}{'status':<12}{'seconds':>9}  note"]
    for r in results:
        lines.append(f"{r.name:<24}{r.status:<12}{r.seconds:>9.1f}  {r.message or (r.directory or '')}")
    return "\n".join(lines)
