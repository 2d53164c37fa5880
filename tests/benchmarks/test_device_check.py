"""`benchmarks/device_check.sh --smoke`: the prepared accelerator check, end to end on the CPU.

Runs the script exactly as on a GPU loan (tiny shapes instead of the ``:paper`` ones, no
installation) and checks its report: every measurement present and finished, numbers finite and
positive, the markdown table in step with the JSON, and bfloat16 training steps whose first loss
agrees with float32's (the mixed-precision steps of all three networks, through the benchmark's own
compilations).
"""

import json
import math
import os
import subprocess
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL_STEPS = ("estimator/float32", "estimator/bfloat16", "registration/float32", "registration/bfloat16",
             "generator/float32", "generator/bfloat16", "data_parallel")
# The suite runs the estimator rows only: compiling the registration and generator steps takes ~4 of
# the full smoke run's ~5 CPU minutes (their bfloat16 numerics: tests/models/test_mixed_precision.py).
# JAXAU_DEVICE_CHECK_FULL=1 runs every measurement.
FULL = os.environ.get("JAXAU_DEVICE_CHECK_FULL") == "1"
STEPS = ALL_STEPS if FULL else ("estimator/float32", "estimator/bfloat16", "data_parallel")
MODELS = ("estimator", "registration", "generator") if FULL else ("estimator",)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("device_check")
    only = [] if FULL else ["--only", "environment,matmul,estimator,data_parallel"]
    # The interpreter running the tests (the script would otherwise pick ./.venv, absent in a copy
    # of the tree and not the one under test on a second Python).
    proc = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "device_check.sh"), "--smoke",
                           "--python", sys.executable, "--out", str(out), *only], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    with open(out / "device_check.json") as f:
        data = json.load(f)
    with open(out / "device_check.md") as f:
        md = f.read()
    return proc, data, md


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_every_measurement_ran(report):
    proc, data, _ = report
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert data["mode"] == "smoke" and data["complete"]
    assert set(data["measurements"]) == {"environment", "matmul", *STEPS}
    failed = {n: e.get("error") for n, e in data["measurements"].items() if e["status"] != "ok"}
    assert not failed and data["errors"] == [], failed
    env = data["measurements"]["environment"]
    assert env["backend"] == "cpu" and env["jax"] == jax.__version__


def test_numbers_are_finite_and_positive(report):
    _, data, _ = report
    ms = data["measurements"]
    for e in ms["matmul"]["results"]:
        assert positive(e["flops_per_s"]) and positive(e["flops_per_step"]), e
    assert data["measured_matmul_peaks"].keys() == {"float32", "float32/highest", "bfloat16"}
    for name in STEPS:
        e = ms[name]
        for key in ("steps_per_s", "images_per_s", "flops_per_step", "flops_per_s", "mfu_measured_matmul",
                    "compile_s", "seconds_per_step"):
            assert positive(e[key]), (name, key, e.get(key))
        assert positive(e["memory"]["peak_bytes"]) and e["memory"]["source"] == "process peak RSS"
        assert math.isfinite(e["loss_first_step"])
        assert "mfu_nominal" not in e  # no nominal peak for a CPU
    # The jaxpr count of the estimator step is the analytic VGG16 count less the first layer's
    # input gradient, which no program computes (a few per cent at the smoke shape); XLA's own
    # count is kept beside it.
    est = ms["estimator/float32"]
    assert est["flops_source"] == "jaxpr (dot + conv)"
    assert 0.95 < est["flops_per_step"] / est["flops_analytic"] < 1.0
    assert positive(est["flops_xla"]["compiled"])
    dp = ms["data_parallel"]
    assert dp["devices"] == 2 and dp["batch_size"] == 2 * est["batch_size"]
    assert positive(dp["scaling_efficiency"])
    if FULL:
        assert set(ms["generator/float32"]["parts"]) == {"d_step", "d_g_step"}


def test_bfloat16_steps_agree_with_float32(report):
    # Same initial state and batch: the first step's loss (computed in float32 from bfloat16
    # activations) agrees with float32's to well within bfloat16's accumulated rounding (5 %, see
    # tests/models/test_mixed_precision.py).
    _, data, _ = report
    ms = data["measurements"]
    for model in MODELS:
        f32, bf16 = ms[f"{model}/float32"]["loss_first_step"], ms[f"{model}/bfloat16"]["loss_first_step"]
        assert abs(bf16 - f32) <= 0.05 * abs(f32), (model, f32, bf16)


def test_markdown_table(report):
    _, data, md = report
    assert md.startswith("## Device check (smoke shapes)")
    rows = [l for l in md.splitlines() if l.startswith("| ") and not l.startswith("| step")]
    for name in MODELS:
        assert sum(r.startswith(f"| {name} |") for r in rows) == 2, name
    assert any(r.startswith("| data_parallel (2 devices) |") for r in rows)
    assert sum(r.startswith(("| float32", "| bfloat16")) for r in rows) == 3  # the matmul rows
    assert "Errors: none" in md


def test_recount_rederives_flops_and_keeps_the_times(report):
    # An older report's FLOPs (XLA's count, times the device count) and a shape the current config no
    # longer builds: the recount replaces the first, flags the second, and keeps every measured time.
    sys.path.insert(0, ROOT)
    from benchmarks import device_check

    _, data, _ = report
    old = json.loads(json.dumps(data))
    est = old["measurements"]["estimator/float32"]
    right = est["flops_per_step"]
    seconds = est["seconds_per_step"]
    for key in ("flops_xla", "flops_dot", "flops_conv", "flops_while_loops"):
        est.pop(key)
    est.update(flops_per_step=1.0, flops_source="compiled", flops_lowered=2.0, flops_per_s=1.0 / seconds,
               mfu_measured_matmul=123.0)
    old["measurements"]["estimator/bfloat16"]["image_size"] = 999
    new = device_check.recount(old, "old.json")
    est = new["measurements"]["estimator/float32"]
    assert est["flops_per_step"] == right and est["flops_xla"] == {"compiled": 1.0, "lowered": 2.0}
    assert est["seconds_per_step"] == seconds and est["flops_per_s"] == pytest.approx(right / seconds)
    assert est["mfu_measured_matmul"] == pytest.approx(
        est["flops_per_s"] / new["measured_matmul_peaks"]["float32"])
    bad = new["measurements"]["estimator/bfloat16"]
    assert "image_size 999 -> " in bad["recount_error"]
    # The data-parallel row was measured on 2 devices; this process has NUM_TEST_DEVICES.
    assert "recorded on 2 devices" in new["measurements"]["data_parallel"]["recount_error"]
    for e in new["measurements"]["matmul"]["results"]:
        assert e["flops_per_step"] == 2 * new["measurements"]["matmul"]["n"] ** 3
    md = device_check.markdown(new)
    assert "FLOPs recounted from the steps' jaxprs" in md and "`estimator/bfloat16`: recount failed" in md
