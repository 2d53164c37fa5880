"""Fixed-size batching: one input shape for every call, padding rows never returned."""

import numpy as np

from jaxau import batching


def test_every_call_sees_the_batch_shape_and_padding_is_dropped():
    shapes = []

    def fn(chunk):
        shapes.append(chunk.shape)
        return chunk.sum(axis=(1, 2)) * 2

    items = np.arange(7 * 2 * 3).reshape(7, 2, 3)
    out = batching.map_padded(fn, items, 3)
    assert shapes == [(3, 2, 3)] * 3
    np.testing.assert_array_equal(np.concatenate(out), items.sum(axis=(1, 2)) * 2)
    assert [len(o) for o in out] == [3, 3, 1]
    assert batching.map_padded(fn, items[:0], 3) == []
