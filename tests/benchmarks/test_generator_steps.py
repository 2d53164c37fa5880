"""`benchmarks/generator_steps.py`: the three GAN step kinds are timed and counted at a config's
settings, and the cost of a generator update follows from them."""

import json

from benchmarks import generator_steps


def test_step_kinds_counts_and_the_cost_of_an_update(capsys):
    argv = ["--config=configs/demo.py", "--iters=1", "--convs", "generator.image_size=32", "generator.d_layers=4",
            "generator.batch_size=8", "generator.n_critic=3"]
    assert generator_steps.main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["image_size"], out["batch_size"], out["d_layers"]) == (32, 8, 4)
    warm, critic, both = out["warmup"], out["critic"], out["critic_and_generator"]
    # The warm-up step is D alone; the critic step adds G's forward and the gradient penalty; the
    # critic + generator step adds G's second forward and both backwards: each counts more work.
    assert 0 < warm["gflop"] < critic["gflop"] < both["gflop"]
    for kind in (warm, critic, both):
        assert kind["seconds"] > 0
        assert abs(kind["gflops"] - kind["gflop"] / kind["seconds"]) <= 0.02 * kind["gflops"] + 0.1
    # n_critic 3: one critic + generator step and two critic steps per G update.
    assert abs(out["seconds_per_generator_update"] - (both["seconds"] + 2 * critic["seconds"])) < 1e-3
    assert out["matmul_peak_gflops"] > 0
    # --convs: every distinct convolution of one G pass, the residual blocks' counted, not repeated.
    convs = {c["conv"]: c for c in out["convs"]}
    assert len(convs) == 7 and convs["block 3x3 64->64 @8"]["count"] == 2 * out["g_blocks"]
    assert {"up x2 3x3 64->32 @8", "up x2 3x3 32->16 @16", "heads 7x7 16->4 @32"} <= set(convs)
    assert convs["input 7x7 10->16 @32"]["gflop"] > 0
