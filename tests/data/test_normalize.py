import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.data import normalize


def _frames():
    # Two subjects, 2x2 single-channel-per-pixel images (C=1) with hand-picked values.
    a = [np.full((2, 2, 1), v, np.float32) for v in (0.2, 0.2, 0.8, 0.2)]  # mostly "neutral" 0.2
    b = [np.full((2, 2, 1), v, np.float32) for v in (0.5, 0.1, 0.3)]
    images = np.stack(a + b)
    subjects = np.array([b"s1"] * 4 + [b"s2"] * 3)
    return images, subjects


def test_mean_references_hand_values_and_streaming():
    images, subjects = _frames()
    refs = normalize.mean_references(images, subjects)
    np.testing.assert_allclose(refs["s1"], np.full((2, 2, 1), 0.35), rtol=1e-6)
    np.testing.assert_allclose(refs["s2"], np.full((2, 2, 1), 0.3), rtol=1e-6)
    streamed = normalize.iter_subject_means([(images[:3], subjects[:3]), (images[3:], subjects[3:])])
    for k in refs:
        np.testing.assert_allclose(streamed[k], refs[k], rtol=1e-6)
    # uint8 input is scaled to [0, 1].
    u8 = normalize.mean_references(np.array([[[[255]]], [[[0]]]], np.uint8), ["x", "x"])
    np.testing.assert_allclose(u8["x"], [[[0.5]]])


def test_neutral_references_flag_and_median_fallback():
    images, subjects = _frames()
    flag = np.array([False, False, False, True, False, False, False])
    refs, how = normalize.neutral_references(images, subjects, flag)
    assert how == {"s1": "flag", "s2": "nearest_median"}
    np.testing.assert_allclose(refs["s1"], images[3])
    # s2: median 0.3 -> the frame with value 0.3 (index 6) is nearest.
    np.testing.assert_allclose(refs["s2"], images[6])
    refs, how = normalize.neutral_references(images, subjects)
    assert how["s1"] == "nearest_median"
    np.testing.assert_allclose(refs["s1"], np.full((2, 2, 1), 0.2))


def test_normalize_frames_and_modes():
    images, subjects = _frames()
    refs = normalize.mean_references(images, subjects)
    out = normalize.normalize_frames(images, subjects, refs)
    np.testing.assert_allclose(out[2], np.full((2, 2, 1), 0.5 + 0.5 * (0.8 - 0.35)), rtol=1e-6)
    raw = normalize.normalize_frames(images, subjects, refs, mode="raw")
    np.testing.assert_allclose(raw[4], np.full((2, 2, 1), 0.2), rtol=1e-5)
    # Mean-normalized frames of a subject average to mid-grey / zero.
    np.testing.assert_allclose(raw[:4].mean(0), 0.0, atol=1e-6)
    jitted = jax.jit(normalize.difference, static_argnames="mode")
    np.testing.assert_allclose(jitted(jnp.asarray(images[:1]), jnp.asarray(refs["s1"]), mode="half"),
                               out[:1], rtol=1e-6)
    with pytest.raises(KeyError, match="s3"):
        normalize.normalize_frames(images[:1], ["s3"], refs)
    with pytest.raises(ValueError, match="difference mode"):
        normalize.difference(images, images, "double")
    with pytest.raises(ValueError, match="Unknown normalization"):
        normalize.references_for("median", images, subjects)
    assert normalize.references_for("none", images, subjects) is None


def test_frame_set_normalisation_is_per_subject_and_label_free():
    from jaxau.data import frames as frames_lib

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 4, 4, 3)).astype(np.uint8)
    fs = {"image": img, "subject": np.asarray(["a", "a", "a", "b", "b", "b"]),
          "au_intensity": np.full((6, 1), -1, np.int32), "au_names": np.asarray(["AU01"])}
    out = frames_lib.normalized(fs, "mean")
    for subj in ("a", "b"):
        m = fs["subject"] == subj
        expected = 0.5 + 0.5 * (img[m] / 255.0 - (img[m] / 255.0).mean(0))
        np.testing.assert_allclose(out["image"][m], np.round(expected * 255), atol=1)
    assert frames_lib.normalized(fs, "none") is fs
    assert frames_lib.normalized(fs, "au0")["image"].dtype == np.uint8


@pytest.mark.parametrize("n, block", [(1, 4), (7, 3), (40, 16), (41, 5)])
def test_nearest_median_frame_streamed_equals_the_in_memory_rule(n, block):
    # Few distinct values (a 0..7 range scaled), so medians and distances tie often: the streamed
    # histogram median and the first-minimum rule must reproduce np.median + argmin bit for bit.
    rng = np.random.default_rng(n)
    images = (rng.integers(0, 8, (n, 5, 4, 3)) * 30).astype(np.uint8)
    if n > 3:
        images[2] = images[n - 1]  # a duplicate frame: the earlier copy wins a tie
    calls = []

    def blocks():
        calls.append(1)
        return (images[lo:lo + block] for lo in range(0, n, block))

    got = normalize.nearest_median_frame(blocks)
    refs, how = normalize.neutral_references(images, ["s"] * n)
    assert how == {"s": "nearest_median"} and len(calls) == 2
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, refs["s"])


@pytest.mark.parametrize("n", [1, 2, 9, 64])
def test_streamed_median_is_numpys_median(n):
    images = np.random.default_rng(n).integers(0, 256, (n, 6, 5, 3)).astype(np.uint8)
    want = np.median(images.astype(np.float32) / 255.0, axis=0)
    got = normalize.streamed_median(images[lo:lo + 5] for lo in range(0, n, 5))
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_equally_near_frames_the_first_wins_across_blocks():
    # Two pixels; median (20, 20); frames (10, 30) and (30, 10) are equally near, in different blocks.
    images = np.array([[0, 40], [10, 30], [40, 0], [30, 10]], np.uint8).reshape(4, 1, 2, 1)
    got = normalize.nearest_median_frame(lambda: (images[lo:lo + 2] for lo in (0, 2)))
    refs, _ = normalize.neutral_references(images, ["s"] * 4)
    np.testing.assert_array_equal(got, refs["s"])
    np.testing.assert_array_equal(got, images[1] / np.float32(255.0))


def test_nearest_median_frame_refuses_float_frames_and_empty_input():
    with pytest.raises(ValueError, match="uint8"):
        normalize.nearest_median_frame(lambda: iter([np.zeros((2, 3, 3, 3), np.float32)]))
    with pytest.raises(ValueError, match="no frames"):
        normalize.nearest_median_frame(lambda: iter([]))
