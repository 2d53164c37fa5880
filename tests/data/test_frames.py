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


def test_normalized_can_take_references_from_another_set():
    from jaxau.data import frames as frames_lib

    def fs(values, subjects):
        img = np.stack([np.full((2, 2, 3), v, np.uint8) for v in values])
        return {"image": img, "subject": np.asarray(subjects)}

    real = fs([100, 120, 40], ["a", "a", "b"])        # subject means: a 110, b 40
    synthetic = fs([200, 110, 40], ["a", "a", "b"])    # its own means would be a 155, b 40
    out = frames_lib.normalized(synthetic, "mean", references_from=real)
    want = np.round((0.5 + 0.5 * (np.array([200, 110, 40]) - np.array([110, 110, 40])) / 255.0) * 255)
    np.testing.assert_array_equal(out["image"][:, 0, 0, 0], want)
    own = frames_lib.normalized(synthetic, "mean")
    assert own["image"][0, 0, 0, 0] != out["image"][0, 0, 0, 0]
    with pytest.raises(KeyError, match="'c'"):
        frames_lib.normalized(fs([1], ["c"]), "mean", references_from=real)
