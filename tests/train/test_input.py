"""Step-determined data order: resumable, epoch-complete, split across processes without overlap."""

import numpy as np
import pytest

from jaxau.train import input as input_lib


def test_every_epoch_is_a_permutation_of_the_pool():
    pool = np.array([3, 3, 5, 7, 11, 13])  # A balanced plan may repeat indices.
    s = input_lib.StepSampler(pool, 4, seed=1)
    first_12 = np.concatenate([s.global_indices(k) for k in range(3)])  # 12 draws = 2 epochs.
    assert sorted(first_12[:6]) == sorted(pool) and sorted(first_12[6:]) == sorted(pool)
    assert not np.array_equal(first_12[:6], first_12[6:])  # Reshuffled per epoch.


def test_order_is_a_function_of_step_only():
    a = input_lib.StepSampler(np.arange(10), 4, seed=7)
    b = input_lib.StepSampler(np.arange(10), 4, seed=7)
    np.testing.assert_array_equal(a.global_indices(5), b.global_indices(5))  # b never saw steps 0-4.
    assert not np.array_equal(a.global_indices(5), input_lib.StepSampler(np.arange(10), 4, seed=8).global_indices(5))


def test_processes_take_disjoint_contiguous_slices():
    full = input_lib.StepSampler(np.arange(100), 8, seed=0).global_indices(3)
    parts = [input_lib.StepSampler(np.arange(100), 8, seed=0, process_index=p, process_count=4)(3) for p in range(4)]
    np.testing.assert_array_equal(np.concatenate(parts), full)


def test_unshuffled_sampler_walks_the_pool():
    s = input_lib.StepSampler(np.arange(5), 2, shuffle=False)
    assert [list(s(k)) for k in range(3)] == [[0, 1], [2, 3], [4, 0]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible by the process count"):
        input_lib.StepSampler(np.arange(5), 3, process_count=2)
    with pytest.raises(ValueError, match="non-empty"):
        input_lib.StepSampler(np.arange(0), 2)


def test_tf_data_pipeline_resumes_mid_run():
    data = {"x": np.arange(20, dtype=np.float32)[:, None], "y": np.arange(20, dtype=np.int32)}
    sampler = input_lib.StepSampler(np.arange(20), 4, seed=2)
    src = input_lib.ArraySource(data)
    full = [b["y"] for b in input_lib.make_dataset(src, sampler, 0, 8).as_numpy_iterator()]
    resumed = [b["y"] for b in input_lib.make_dataset(src, sampler, 5, 8).as_numpy_iterator()]
    assert len(full) == 8 and len(resumed) == 3
    for a, b in zip(full[5:], resumed):
        np.testing.assert_array_equal(a, b)


def test_process_split_gives_each_host_its_even_part():
    assert input_lib.process_split("train", 0, 1) == "train"
    parts = [input_lib.process_split("train", p, 3) for p in range(3)]
    assert len(set(map(str, parts))) == 3
    import tensorflow_datasets as tfds

    assert [str(p) for p in parts] == [str(p) for p in tfds.even_splits("train", n=3, drop_remainder=False)]
