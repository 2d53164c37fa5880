"""Run logging: TensorBoard summaries, a JSONL log, a progress line, and start-up summaries.

Only process 0 writes files; every process may call the methods (the others are no-ops), so training
loops need no ``if process_index == 0`` of their own.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Any, Mapping

import jax
import numpy as np


def _scalar(v) -> float:
    return float(np.asarray(v).reshape(()))


class MetricWriter:
    """Writes scalars (and images) to TensorBoard under ``<workdir>/<name>`` and to ``metrics.jsonl``.

    The JSONL file holds one object per write: ``{"step": s, "time": unix_s, "name": value, ...}``;
    it is appended to on resume, so a run's whole history lives in one file.
    """

    def __init__(self, workdir: str, name: str = "train"):
        self.enabled = jax.process_index() == 0
        self.logdir = os.path.join(workdir, "tensorboard", name)
        self.jsonl_path = os.path.join(workdir, f"{name}_metrics.jsonl")
        self._tb = None
        if self.enabled:
            os.makedirs(self.logdir, exist_ok=True)

    def _writer(self):
        if self._tb is None:
            from clu import metric_writers  # imports TensorFlow: only when something is written.

            self._tb = metric_writers.SummaryWriter(self.logdir)
        return self._tb

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        values = {k: _scalar(v) for k, v in scalars.items()}
        self._writer().write_scalars(step, values)
        record = {"step": int(step), "time": time.time()}
        record.update({k: (v if math.isfinite(v) else str(v)) for k, v in values.items()})
        with open(self.jsonl_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """``images``: name -> uint8 or [0,1] float array [N,H,W,C]."""
        if self.enabled:
            self._writer().write_images(step, {k: np.asarray(v) for k, v in images.items()})

    def flush(self) -> None:
        if self.enabled and self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_jsonl(path: str) -> list[dict]:
    """Reads a metrics JSONL file (skipping a torn last line left by a killed process)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                logging.warning("Skipping unreadable line in %s", path)
    return out


class Progress:
    """Logs ``step/total | loss terms | steps/s | images/s | ETA`` every ``every`` steps.

    The first step's duration is reported separately as compile time (it includes tracing and XLA
    compilation) and excluded from the throughput estimate.
    """

    def __init__(self, total_steps: int, global_batch_size: int, *, start_step: int = 0, every: int = 10,
                 name: str = "train"):
        self.total = total_steps
        self.batch = global_batch_size
        self.every = max(1, every)
        self.name = name
        self.start_step = start_step
        self._t_first = None
        self._t_mark = None
        self._step_mark = None
        self.compile_seconds = None

    def step_started(self) -> None:
        if self._t_first is None:
            self._t_first = time.perf_counter()

    def update(self, step: int, metrics: Mapping[str, Any] | None = None) -> str | None:
        """Call after step ``step`` finished (metrics already on host). Returns the logged line."""
        now = time.perf_counter()
        if self.compile_seconds is None:
            self.compile_seconds = now - (now if self._t_first is None else self._t_first)
            logging.info("[%s] first step (compile + run) took %.1f s", self.name, self.compile_seconds)
            self._t_mark, self._step_mark = now, step
            return None
        if step % self.every and step != self.total:
            return None
        done = step - self._step_mark
        dt = now - self._t_mark
        steps_per_s = done / dt if dt > 0 else float("nan")
        eta = (self.total - step) / steps_per_s if steps_per_s > 0 else float("nan")
        terms = " ".join(f"{k}={_scalar(v):.4g}" for k, v in sorted((metrics or {}).items()))
        line = (f"[{self.name}] step {step}/{self.total} | {terms} | {steps_per_s:.2f} steps/s | "
                f"{steps_per_s * self.batch:.1f} images/s | ETA {_fmt_seconds(eta)}")
        logging.info(line)
        return line


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def parameter_summary(params: Any, name: str = "model") -> str:
    """A table of parameter counts per top-level module, plus the total; logged at start-up."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    per_module: dict[str, int] = {}
    for path, leaf in flat:
        key = "/".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path[:-1]) or "(root)"
        per_module[key] = per_module.get(key, 0) + int(np.prod(np.shape(leaf)))
    total = sum(per_module.values())
    width = max([len(k) for k in per_module] + [8])
    lines = [f"{name}: {total:,} parameters"]
    lines += [f"  {k:<{width}} {v:>12,}" for k, v in per_module.items()]
    return "\n".join(lines)


def count_parameters(params: Any) -> int:
    return int(sum(np.prod(np.shape(x)) for x in jax.tree.leaves(params)))
