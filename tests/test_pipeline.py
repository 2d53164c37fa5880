"""Stage caching: unchanged stages are reused, changed config reruns dependents, missing code is reported."""

import json

import ml_collections

from jaxau import pipeline

CALLS = []


def produce(config, directory, inputs):
    CALLS.append(("produce", config.a.n))
    (open(f"{directory}/out.txt", "w")).write(str(config.a.n))
    return {"n": config.a.n}


def consume(config, directory, inputs):
    CALLS.append(("consume", config.b.m))
    return {"read": open(f"{inputs['produce']}/out.txt").read()}


STAGES = (
    pipeline.Stage("produce", "makes a file", ("a",), impl=f"{__name__}:produce"),
    pipeline.Stage("consume", "reads it", ("b",), deps=("produce",), impl=f"{__name__}:consume"),
    pipeline.Stage("future", "not written yet", ("a",), impl="jaxau.stages.no_such_module:run"),
    pipeline.Stage("after_future", "needs it", ("a",), deps=("future",), impl=f"{__name__}:consume"),
)


def _config(n=1, m=1):
    return ml_collections.ConfigDict({"a": {"n": n}, "b": {"m": m}})


def test_caching_and_invalidation(tmp_path):
    CALLS.clear()
    r1 = {r.name: r for r in pipeline.run_pipeline(STAGES, _config(), str(tmp_path))}
    assert r1["produce"].status == "done" and r1["consume"].summary == {"read": "1"}
    assert r1["future"].status == "not built" and r1["after_future"].status == "blocked"
    r2 = {r.name: r for r in pipeline.run_pipeline(STAGES, _config(), str(tmp_path))}
    assert r2["produce"].status == "cached" and r2["consume"].status == "cached"
    # Changing only the consumer's config reruns the consumer, not the producer.
    r3 = {r.name: r for r in pipeline.run_pipeline(STAGES, _config(m=2), str(tmp_path))}
    assert r3["produce"].status == "cached" and r3["consume"].status == "done"
    # Changing the producer's config reruns both (the dependency hash changes).
    r4 = {r.name: r for r in pipeline.run_pipeline(STAGES, _config(n=3, m=2), str(tmp_path))}
    assert r4["produce"].status == "done" and r4["consume"].summary == {"read": "3"}
    assert CALLS == [("produce", 1), ("consume", 1), ("consume", 2), ("produce", 3), ("consume", 2)]
    done = json.load(open(f"{r4['consume'].directory}/{pipeline.DONE_FILE}"))
    assert done["summary"] == {"read": "3"}


def test_only_runs_requested_stage_and_its_needs(tmp_path):
    CALLS.clear()
    results = pipeline.run_pipeline(STAGES, _config(), str(tmp_path), only=["produce"])
    assert [r.name for r in results] == ["produce"] and CALLS == [("produce", 1)]


def test_interrupted_stage_is_not_taken_as_done(tmp_path):
    def boom(config, directory, inputs):
        raise RuntimeError("killed")

    import sys
    sys.modules[__name__].boom = boom
    stages = (pipeline.Stage("produce", "x", ("a",), impl=f"{__name__}:boom"),)
    try:
        pipeline.run_pipeline(stages, _config(), str(tmp_path))
    except RuntimeError:
        pass
    CALLS.clear()
    results = pipeline.run_pipeline(STAGES[:1], _config(), str(tmp_path))
    assert results[0].status == "done" and CALLS == [("produce", 1)]
