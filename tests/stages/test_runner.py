"""Stage caching: unchanged stages are reused, changed config reruns dependents, missing code is reported."""

import json

import ml_collections
import pytest

from jaxau.validate import ConfigError

from jaxau.stages import runner as pipeline

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


def test_failed_stage_is_not_taken_as_done_and_blocks_only_its_dependents(tmp_path):
    def boom(config, directory, inputs):
        raise RuntimeError("killed\nsecond line")

    import sys
    sys.modules[__name__].boom = boom
    stages = (pipeline.Stage("produce", "x", ("a",), impl=f"{__name__}:boom"),
              pipeline.Stage("consume", "reads it", ("b",), deps=("produce",), impl=f"{__name__}:consume"),
              pipeline.Stage("other", "independent", ("a",), impl=f"{__name__}:produce"))
    CALLS.clear()
    results = {r.name: r for r in pipeline.run_pipeline(stages, _config(), str(tmp_path))}
    assert results["produce"].status == "failed" and results["produce"].message == "RuntimeError: killed"
    assert results["consume"].status == "blocked" and results["other"].status == "done"
    CALLS.clear()
    results = pipeline.run_pipeline(STAGES[:1], _config(), str(tmp_path))
    assert results[0].status == "done" and CALLS == [("produce", 1)]


def test_graph_nodes_merge_identical_work_and_key_by_role(tmp_path):
    g = pipeline.GraphBuilder()
    a1 = g.add(STAGES[0], _config(n=1))
    a1_again = g.add(STAGES[0], _config(n=1, m=5))   # 'b' is not produce's config: same node.
    a2 = g.add(STAGES[0], _config(n=2))
    c1 = g.add(STAGES[1], _config(), {"produce": a1})
    c2 = g.add(STAGES[1], _config(), {"produce": a2})
    assert a1 == a1_again and a1 != a2 and c1 != c2 and len(g.graph()) == 4
    with pytest.raises(ValueError, match="needs inputs"):
        g.add(STAGES[1], _config(), {})
    CALLS.clear()
    results = {r.name: r for r in pipeline.run_graph(g.graph(), str(tmp_path))}
    assert results[c1].summary == {"read": "1"} and results[c2].summary == {"read": "2"}
    # Only by stage name: every node of that stage plus what they need.
    CALLS.clear()
    again = pipeline.run_graph(g.graph(), str(tmp_path), only=["consume"])
    assert {r.status for r in again} == {"cached"} and CALLS == []
    with pytest.raises(ConfigError, match="unknown stage 'nope'"):
        pipeline.run_graph(g.graph(), str(tmp_path), only=["nope"])


def test_ignored_config_paths_do_not_change_the_key():
    stage = pipeline.Stage("s", "x", ("a",), ignore=("a.skip",))
    k1 = pipeline.stage_key(stage, ml_collections.ConfigDict({"a": {"n": 1, "skip": 1}}), [])
    k2 = pipeline.stage_key(stage, ml_collections.ConfigDict({"a": {"n": 1, "skip": 2}}), [])
    k3 = pipeline.stage_key(stage, ml_collections.ConfigDict({"a": {"n": 2, "skip": 1}}), [])
    assert k1 == k2 != k3


def test_a_neutral_setting_is_left_out_of_the_key_only_at_its_neutral_value():
    stage = pipeline.Stage("s", "x", ("a",), neutral=(("a.mode", "old"),))
    key = lambda a: pipeline.stage_key(stage, ml_collections.ConfigDict({"a": a}), [])  # noqa: E731
    assert key({"n": 1, "mode": "old"}) == key({"n": 1}) != key({"n": 1, "mode": "new"})
    assert key({"n": 1, "mode": "new"}) != key({"n": 2, "mode": "new"})


def test_a_full_disk_is_named_in_the_stage_message(tmp_path):
    import errno

    def full(config, directory, inputs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", f"{directory}/checkpoints/7/array")
        except OSError as e:  # orbax / TensorStore wrap it in a long message that hides the reason.
            raise ValueError("Error writing chunk: " + "x" * 400 + " [OUT_OF_RANGE]") from e

    import sys
    sys.modules[__name__].full = full
    stages = (pipeline.Stage("produce", "x", ("a",), impl=f"{__name__}:full"),)
    result = pipeline.run_pipeline(stages, _config(), str(tmp_path))[0]
    assert result.status == "failed"
    assert result.message.startswith("disk full (No space left on device) writing ")
    assert result.message.endswith("checkpoints/7/array: free space there and rerun the same command; "
                                   "finished stages and checkpoints are kept.")
    assert pipeline.failure_message(RuntimeError("a\nb" + "y" * 400), "d") == "RuntimeError: a"
    assert len(pipeline.failure_message(RuntimeError("z" * 400), "d")) == 300
