"""Metric files, the progress line and parameter summaries."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxau.train import metrics


def test_writer_appends_jsonl_and_tensorboard(tmp_path):
    w = metrics.MetricWriter(str(tmp_path), "train")
    w.write_scalars(1, {"loss": jnp.float32(2.5), "acc": 0.5})
    w.write_scalars(2, {"loss": float("nan")})
    w.close()
    rows = metrics.read_jsonl(str(tmp_path / "train_metrics.jsonl"))
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["loss"] == 2.5 and rows[0]["acc"] == 0.5 and rows[1]["loss"] == "nan"
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tensorboard" / "train").iterdir())


def test_read_jsonl_skips_a_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo')
    assert metrics.read_jsonl(str(p)) == [{"step": 1, "loss": 1.0}]


def test_progress_reports_throughput_and_eta(monkeypatch):
    clock = iter([0.0, 10.0, 11.8])  # First step 10 s (compile), then steps 2..10 (9) in 1.8 s.
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: next(clock))
    p = metrics.Progress(total_steps=101, global_batch_size=8, every=10)
    p.step_started()
    assert p.update(1, {"loss": 1.0}) is None and p.compile_seconds == 10.0
    line = p.update(10, {"loss": 0.5})
    assert "step 10/101" in line and "5.00 steps/s" in line and "40.0 images/s" in line
    assert "ETA 0:00:18" in line and "loss=0.5" in line


def test_parameter_summary_counts():
    params = nn.Dense(3).init(jax.random.key(0), jnp.zeros((1, 4)))["params"]
    assert metrics.count_parameters(params) == 4 * 3 + 3
    assert "15 parameters" in metrics.parameter_summary({"dense": params})
