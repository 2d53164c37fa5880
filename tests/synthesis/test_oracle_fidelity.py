"""Oracle renders (exact SynthFACS re-renders with a target expression) and the fidelity metrics."""

import dataclasses

import ml_collections
import numpy as np
import pytest

from jaxau.face import synth
from jaxau.synthesis import fidelity, oracle
from jaxau.synthesis.plan import semantic_plan
from jaxau.train import generator

SIZE = 32


@pytest.fixture(scope="module")
def small():
    """Two training subjects' frontal frames of a 32-px, unsupersampled fera_demo_large (requests and a
    frame set)."""
    cfg = dataclasses.replace(synth.get_config("fera_demo_large"), image_size=SIZE, supersample=1, uv_size=0,
                              batch_size=8)
    requests = [fr for i in range(2) for fr in synth.subject_frames(cfg, "train", i) if fr["pose"][0] == 4]
    images = np.stack([r["image"] for r in synth.render_frames(cfg, requests)])
    frames = {"image": images, "au_intensity": np.stack([r["labels"] for r in requests]),
              "subject": np.asarray([r["subject"].name for r in requests]),
              "sequence": np.asarray([r["sequence"] for r in requests]),
              "frame": np.asarray([r["frame"] for r in requests], np.int32),
              "pose_id": np.full(len(requests), 4, np.int32), "au_names": np.asarray(cfg.aus)}
    config = ml_collections.ConfigDict({"data": {"name": "synthfacs/fera_demo_large", "image_size": SIZE}})
    renderer = oracle.OracleRenderer(config, "raw", synth_config=cfg)
    return cfg, requests, frames, renderer


def test_request_index_finds_each_frame_of_a_frame_set(small):
    cfg, requests, frames, renderer = small
    found = renderer.index.rows(frames, range(len(requests)))
    for a, b in zip(found, requests):
        assert a["sequence"] == b["sequence"] and a["frame"] == b["frame"]
        np.testing.assert_array_equal(a["intensity"], b["intensity"])
    with pytest.raises(KeyError, match="no frame"):
        renderer.index.request(frames["subject"][0], "nonexistent-sequence", 0)
    with pytest.raises(KeyError, match="not a 'fera_demo_large' SynthFACS subject"):
        renderer.index.request("disfa-tr000", "x", 0)


def test_oracle_of_a_plan_entry_is_the_direct_render_with_the_target_intensities(small):
    cfg, requests, frames, renderer = small
    # A plan entry whose source (subject 0) and target (subject 1) differ in expression.
    src = 0
    tgt = next(i for i in range(len(requests) - 1, 0, -1)
               if np.abs(requests[i]["intensity"] - requests[src]["intensity"]).max() > 0.5)
    out = renderer.oracle(frames, [src], frames, [tgt])
    direct = synth.render_frames(cfg, [{**requests[src], "intensity": requests[tgt]["intensity"]}])[0]
    np.testing.assert_array_equal(out.image[0], direct["image"])
    assert out.ok.all() and out.face[0].any()
    assert out.image[0].tolist() != frames["image"][src].tolist()
    # Its labels are the target's, by construction.
    req = oracle.with_expression(requests[src], requests[tgt], cfg.aus)
    np.testing.assert_array_equal(req["labels"], requests[tgt]["labels"])


def test_labelled_oracle_changes_only_the_named_aus(small):
    cfg, requests, frames, renderer = small
    src = 0
    tgt = next(i for i in range(len(requests) - 1, 0, -1)
               if np.abs(requests[i]["intensity"] - requests[src]["intensity"]).max() > 0.5)
    names = list(oracle.au_mapping.SIMULATED_AUS)
    req = oracle.with_expression(requests[src], requests[tgt], cfg.aus, expression_aus=["AU12", "AU06"])
    for k, a in enumerate(names):
        expected = requests[tgt if a in ("AU12", "AU06") else src]["intensity"][k]
        assert req["intensity"][k] == pytest.approx(expected), a
    # All AUs named: the full oracle; the request's labels follow its own intensities.
    full = oracle.with_expression(requests[src], requests[tgt], cfg.aus, expression_aus=names)
    np.testing.assert_array_equal(full["intensity"], requests[tgt]["intensity"])
    out = renderer.oracle(frames, [src], frames, [tgt], expression_aus=["AU12", "AU06"])
    direct = synth.render_frames(cfg, [req])[0]
    np.testing.assert_array_equal(out.image[0], direct["image"])


def test_faint_oracle_draws_a_share_of_the_change_and_keeps_the_untold_aus(small):
    cfg, requests, frames, renderer = small
    src = 0
    tgt = next(i for i in range(len(requests) - 1, 0, -1)
               if np.abs(requests[i]["intensity"] - requests[src]["intensity"]).max() > 0.5)
    s_int, t_int = requests[src]["intensity"], requests[tgt]["intensity"]
    half = oracle.with_expression(requests[src], requests[tgt], cfg.aus, strength=0.5)
    np.testing.assert_allclose(half["intensity"], (s_int + t_int) / 2, atol=1e-6)
    # Strength 1 is the oracle; strength with labelled AUs moves only those, by that share.
    np.testing.assert_array_equal(oracle.with_expression(requests[src], requests[tgt], cfg.aus, strength=1.0)
                                  ["intensity"], t_int)
    names = list(oracle.au_mapping.SIMULATED_AUS)
    faint = oracle.with_expression(requests[src], requests[tgt], cfg.aus, expression_aus=["AU12"], strength=0.25)
    for k, a in enumerate(names):
        expected = s_int[k] + 0.25 * (t_int[k] - s_int[k]) if a == "AU12" else s_int[k]
        assert faint["intensity"][k] == pytest.approx(expected, abs=1e-6), a
    # An exaggerated change saturates at the FACS range's ends.
    double = oracle.with_expression(requests[src], requests[tgt], cfg.aus, strength=2.0)
    np.testing.assert_allclose(double["intensity"], np.clip(2 * t_int - s_int, 0, 5), atol=1e-6)
    assert (double["intensity"] >= 0).all() and (double["intensity"] <= 5).all()
    # The renderer draws exactly that request.
    out = renderer.oracle(frames, [src], frames, [tgt], strength=0.5)
    np.testing.assert_array_equal(out.image[0], synth.render_frames(cfg, [half])[0]["image"])
    # Measured like a generator against the exact oracle, half the change is about half the edit
    # (0.54 here); it points the same way only in part (cosine 0.65 at 32 px): a moving edge (lip,
    # brow) changes other pixels halfway than at the end, so image edits are not linear in it.
    full = renderer.oracle(frames, [src], frames, [tgt])
    gain = fidelity.edit_gains(frames["image"][[src]], out.image, full.image, full.face)[0]
    cosine = fidelity.edit_cosines(frames["image"][[src]], out.image, full.image, full.face)[0]
    assert 0.35 < gain < 0.65 and cosine > 0.5


def test_a_direction_scales_only_the_raised_or_the_lowered_aus(small):
    cfg, requests, frames, renderer = small
    s_int = np.array([0.0, 2.0, 4.0, 1.0] + [0.0] * 14, np.float32)
    t_int = np.array([3.0, 2.0, 1.0, 0.0] + [0.0] * 14, np.float32)
    src, tgt = {**requests[0], "intensity": s_int}, {**requests[1], "intensity": t_int}
    up = oracle.with_expression(src, tgt, cfg.aus, strength=0.5, direction="up")["intensity"]
    down = oracle.with_expression(src, tgt, cfg.aus, strength=0.5, direction="down")["intensity"]
    both = oracle.with_expression(src, tgt, cfg.aus, strength=0.5)["intensity"]
    np.testing.assert_allclose(up[:4], [1.5, 2.0, 1.0, 0.0])      # raised AU halfway, lowered ones fully
    np.testing.assert_allclose(down[:4], [3.0, 2.0, 2.5, 0.5])    # lowered AUs halfway, raised one fully
    np.testing.assert_allclose(both[:4], [1.5, 2.0, 2.5, 0.5])
    # Strength 0 on one direction renders the other half of the change alone.
    np.testing.assert_allclose(oracle.with_expression(src, tgt, cfg.aus, strength=0.0, direction="down")
                               ["intensity"][:4], [3.0, 2.0, 4.0, 1.0])
    with pytest.raises(ValueError, match="direction 'sideways'"):
        oracle.with_expression(src, tgt, cfg.aus, strength=0.5, direction="sideways")


def test_direction_gains_split_the_labelled_change(small):
    cfg, requests, frames, renderer = small
    # Entries whose target raises some labelled AUs and lowers others relative to the source.
    names = list(frames["au_names"])
    k = [oracle.au_mapping.SIMULATED_AUS.index(a) for a in names]
    pairs = [(i, j) for i in range(len(requests)) for j in range(len(requests))
             if (requests[j]["intensity"][k] - requests[i]["intensity"][k]).max() > 1.0
             and (requests[j]["intensity"][k] - requests[i]["intensity"][k]).min() < -1.0][:3]
    assert pairs
    src_rows, tgt_rows = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    copy = frames["image"][src_rows]
    labelled = renderer.oracle(frames, src_rows, frames, tgt_rows, expression_aus=names).image
    added_only = renderer.oracle(frames, src_rows, frames, tgt_rows, expression_aus=names, strength=0.0,
                                 direction="down").image
    rec = fidelity.direction_gains(renderer, frames, src_rows, frames, tgt_rows, names,
                                   {"copy": copy, "labelled": labelled, "added_only": added_only})
    assert rec["entries_added"] == rec["entries_removed"] == len(pairs)
    assert rec["copy_gain_added"] == 0.0 and rec["copy_gain_removed"] == 0.0
    # The half drawn alone gains 1 on itself; the whole labelled change gains about 1 on each half
    # (the halves move different parts of the face).
    assert rec["added_only_gain_added"] == pytest.approx(1.0)
    assert 0.6 < rec["labelled_gain_added"] < 1.4 and 0.6 < rec["labelled_gain_removed"] < 1.4
    assert abs(rec["added_only_gain_removed"]) < 0.5


def test_oracle_with_its_own_expression_reproduces_the_source_frame(small):
    _, requests, frames, renderer = small
    out = renderer.oracle(frames, [1, 2], frames, [1, 2])
    np.testing.assert_array_equal(out.image, frames["image"][[1, 2]])
    np.testing.assert_array_equal(renderer.sources(frames, [1, 2]).image, frames["image"][[1, 2]])


def test_measure_scores_copy_and_oracle_generators_on_a_plan(small):
    _, _, frames, renderer = small
    plan = semantic_plan(frames["au_intensity"], per_level=1, seed=0)
    copy = fidelity.measure(renderer, lambda images, labels, own: images, frames, plan, list(frames["au_names"]),
                            per_cell=1)
    assert copy["edit_cosine"] == 0.0 and copy["l1_generated"] == copy["l1_copy_source"]
    assert copy["source_rerender_l1"] == 0.0

    def perfect(images, labels, own):  # looks the entry up by its source image: the oracle itself
        rows = fidelity.sample_entries(plan, 1)
        out = renderer.oracle(frames, plan.source_index[rows], frames, plan.target_index[rows])
        return out.image

    best = fidelity.measure(renderer, perfect, frames, plan, list(frames["au_names"]), per_cell=1)
    assert best["l1_generated"] == 0.0 and best["l1_copy_source"] > 0
    # Entries whose target expression equals the source's have no edit (cosine 0 by convention).
    assert 0.5 < best["edit_cosine"] <= 1.0 + 1e-12
    # The labelled oracle (only the generator's AU columns changed) scores its own ceiling.
    au_names = list(frames["au_names"])

    def labelled(images, labels, own):
        rows = fidelity.sample_entries(plan, 1)
        return renderer.oracle(frames, plan.source_index[rows], frames, plan.target_index[rows],
                               expression_aus=au_names).image

    lab = fidelity.measure(renderer, labelled, frames, plan, au_names, per_cell=1)
    assert lab["l1_generated_labelled"] == 0.0 and lab["edit_cosine"] == pytest.approx(lab["edit_cosine_ceiling"])
    assert lab["edit_gain_labelled"] == pytest.approx(1.0) and lab["edit_gain"] == pytest.approx(lab["edit_gain_ceiling"])
    assert lab["l1_generated"] == pytest.approx(lab["l1_labelled_oracle"])
    # Which half of the change: the labelled oracle is its own ceiling; copying draws neither half.
    assert lab["edit_gain_added"] == lab["edit_gain_added_ceiling"]
    assert lab["edit_gain_removed"] == lab["edit_gain_removed_ceiling"] or lab["entries_removed"] == 0
    assert lab["entries_added"] > 0 and copy["edit_gain_added"] == 0.0
    assert lab["edit_cosine_ceiling"] == best["edit_cosine_ceiling"] and best["edit_cosine_ceiling"] < 1.0
    # Copying scores 0 against both oracles.
    assert copy["edit_cosine_labelled"] == 0.0 and copy["l1_generated_labelled"] == copy["l1_copy_source_labelled"]


def test_measure_reads_the_sample_with_the_critic(small):
    _, _, frames, renderer = small
    plan = semantic_plan(frames["au_intensity"], per_level=1, seed=0)
    rows = fidelity.sample_entries(plan, 1)
    oracle_images = renderer.oracle(frames, plan.source_index[rows], frames, plan.target_index[rows]).image
    targets = plan.target_labels[rows].astype(float)

    def critic(images):  # knows the target expressions exactly, and only on oracle images
        hit = np.array([[np.array_equal(im, o) for o in oracle_images] for im in images])
        return np.where(hit.any(1)[:, None], targets[hit.argmax(1)], 0.0)

    rec = fidelity.measure(renderer, lambda images, labels, own: images, frames, plan, list(frames["au_names"]),
                           per_cell=1, critic=critic)
    # Every AU the sample varies is read exactly; a constant one has ICC 0 by convention.
    varied = targets.std(0) > 0
    by_au = np.array([rec["critic_icc_oracle_by_au"][a] for a in frames["au_names"]])
    assert varied.sum() >= 3 and np.allclose(by_au[varied], 1.0) and np.all(by_au[~varied] == 0.0)
    assert rec["critic_icc_oracle"] == pytest.approx(varied.mean())
    assert rec["critic_icc_generated"] == 0.0 and rec["critic_icc_source"] == 0.0
    assert set(rec["critic_icc_oracle_by_au"]) == set(frames["au_names"])
    assert "critic_icc_labelled" not in rec and "reader_icc_oracle" not in rec


def test_edit_cosine_and_masked_l1_on_hand_built_images():
    rng = np.random.default_rng(0)
    src = rng.integers(50, 200, (3, 4, 4, 3)).astype(np.uint8)
    orc = src.copy()
    orc[:, 1:3, 1:3] += 20                         # the true edit: +20 in the centre
    face = np.zeros((3, 4, 4), bool)
    face[:, 1:4, 1:4] = True                       # 9 face pixels per image
    au = np.array([0, 1, 1])
    copy = fidelity.image_metrics(src, src, orc, face, au, ["AU01", "AU02"])
    assert copy["edit_cosine"] == 0.0
    assert copy["l1_generated"] == copy["l1_copy_source"] == pytest.approx(4 * 20 / 255 / 9)
    same = fidelity.image_metrics(src, orc, orc, face, au, ["AU01", "AU02"])
    assert same["edit_cosine"] == pytest.approx(1.0) and same["l1_generated"] == 0.0
    assert same["edit_cosine_by_au"] == {"AU01": pytest.approx(1.0), "AU02": pytest.approx(1.0)}
    # The opposite edit: cosine -1; half the edit: cosine 1, half the L1.
    opposite = (src.astype(int) - 20 * (orc != src)).astype(np.uint8)
    assert fidelity.edit_cosines(src, opposite, orc, face) == pytest.approx([-1, -1, -1])
    half = (src.astype(int) + 10 * (orc != src)).astype(np.uint8)
    assert fidelity.masked_l1(half, orc, face) == pytest.approx([4 * 10 / 255 / 9] * 3)
    # Edit gain: 0 for copying, 1 for the oracle, 0.5 for half the edit, -1 for the opposite one;
    # an orthogonal edit of any size gains nothing (its cosine is 0 too).
    assert copy["edit_gain"] == 0.0 and same["edit_gain"] == pytest.approx(1.0)
    assert fidelity.edit_gains(src, half, orc, face) == pytest.approx([0.5] * 3)
    assert fidelity.edit_gains(src, opposite, orc, face) == pytest.approx([-1] * 3)
    sideways = src.copy()
    sideways[:, 3, 3] += 60                         # inside the face, away from the true edit
    assert fidelity.edit_gains(src, sideways, orc, face) == pytest.approx([0] * 3)
    # Twice the edit in the same direction: cosine 1, gain 2.
    double = (src.astype(int) + 40 * (orc != src)).astype(np.uint8)
    assert fidelity.edit_gains(src, double, orc, face) == pytest.approx([2] * 3)
    assert fidelity.edit_gains(src, src, src, face) == pytest.approx([0] * 3)   # no true edit
    # An edit outside the face region does not count.
    outside = src.copy()
    outside[:, 0, 0] += 50
    assert fidelity.edit_cosines(src, outside, orc, face) == pytest.approx([0, 0, 0])


def test_reader_and_critic_iccs():
    labels = np.array([[0, 5], [1, 3], [2, 1], [3, 0], [4, 2]])
    images = labels.astype(np.uint8)[:, None, None, :]          # a "reader" that sees the labels exactly
    rec = fidelity.reader_iccs(lambda im: im[:, 0, 0, :].astype(float), {"perfect": images,
                               "flat": np.zeros_like(images)}, labels, ["AU01", "AU02"])
    assert rec["reader_icc_perfect"] == pytest.approx(1.0) and rec["reader_icc_flat"] == 0.0
    named = fidelity.reader_iccs(lambda im: im[:, 0, 0, :].astype(float), {"perfect": images}, labels,
                                 ["AU01", "AU02"], prefix="critic")
    assert set(named) == {"critic_icc_perfect", "critic_icc_perfect_by_au"}
    mean, per_au = generator.critic_icc(labels / 5.0, labels)
    assert mean == pytest.approx(1.0) and per_au.shape == (2,)
    mean, _ = generator.critic_icc(np.full(labels.shape, 0.2), labels)
    assert mean == 0.0


@pytest.mark.parametrize("sigma", [0.4, 0.7, 1.5])
def test_gaussian_blur_matches_opencv(sigma):
    import cv2

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 17, 12, 3), dtype=np.uint8)
    ours = oracle.gaussian_blur(images, sigma)
    k = 2 * int(np.ceil(3 * sigma)) + 1
    ref = np.stack([cv2.GaussianBlur(im, (k, k), sigma, borderType=cv2.BORDER_REFLECT_101) for im in images])
    # OpenCV rounds its uint8 kernel to fixed point: at most one grey level apart.
    assert ours.dtype == np.uint8 and np.abs(ours.astype(int) - ref.astype(int)).max() <= 1
    assert not np.array_equal(ours, images)
    np.testing.assert_array_equal(oracle.gaussian_blur(images, 0.0), images)


def test_sample_entries_takes_the_first_entries_of_every_cell():
    labels = np.array([[0, 1], [1, 0], [2, 0], [0, 2], [5, 0]])
    plan = semantic_plan(labels, per_level=3, seed=0)
    rows = fidelity.sample_entries(plan, 2)
    cells = {(int(plan.au[r]), int(plan.level[r])) for r in rows}
    assert len(rows) == 2 * len(cells) == 2 * (2 * 6 - len(plan.skipped))
