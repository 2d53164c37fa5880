"""Frame sets: AU column selection."""

import numpy as np
import pytest


def test_with_aus_can_mark_uncoded_aus_unknown():
    from jaxau.data import frames as frames_lib

    f = {"image": np.zeros((2, 4, 4, 3), np.uint8), "au_intensity": np.array([[1, 2], [3, 4]], np.int32),
         "au_names": np.asarray(["AU01", "AU12"])}
    out = frames_lib.with_aus(f, ["AU12", "AU14", "AU01"], missing="unknown")
    np.testing.assert_array_equal(out["au_intensity"], [[2, -1, 1], [4, -1, 3]])
    assert list(out["au_names"]) == ["AU12", "AU14", "AU01"]
    with pytest.raises(KeyError, match="AU14"):
        frames_lib.with_aus(f, ["AU14"])
