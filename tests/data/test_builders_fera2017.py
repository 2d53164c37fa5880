"""FERA 2017 builder on a generated fixture tree: partitions, poses, frames not starting at 1."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxau import au as au_lib  # noqa: E402
from jaxau.data.builders import _common, fera2017  # noqa: E402
from tests.data import fixtures  # noqa: E402

SEQS = {("TR", "F001", "T1"): (1, 6), ("VA", "M002", "T2"): (6,)}
VIDEO_FRAMES = range(5, 10)     # BP4D-style numbering: the first frame is 5
LABEL_FRAMES = range(5, 11)     # one label row (frame 10) has no video frame


def _build(tmp_path, manual, **cfg):
    config = fera2017.Fera2017Config(name="t", **cfg) if cfg else "default"
    builder = fera2017.Fera2017(config=config, data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fera")
    fixtures.write_fera2017(tmp / "manual", SEQS, VIDEO_FRAMES, LABEL_FRAMES)
    builder = _build(tmp, tmp / "manual")
    return builder, {s: list(tfds.as_numpy(builder.as_dataset(split=s)))
                     for s in ("train", "validation")}


def test_splits_poses_and_labels(built):
    builder, splits = built
    assert set(builder.info.splits) == {"train", "validation"}
    assert builder.info.metadata["au_names"] == list(au_lib.FERA2017_AUS)
    train = {(int(e["pose"]["id"]), int(e["frame"])): e for e in splits["train"]}
    assert sorted(train) == [(p, f) for p in (1, 6) for f in VIDEO_FRAMES]
    assert [int(e["frame"]) for e in splits["validation"]] != []
    for split, (part, subj, task) in (("train", ("TR", "F001", "T1")),
                                      ("validation", ("VA", "M002", "T2"))):
        stem = f"FERA17_{part}_{subj}_{task}"
        for e in splits[split]:
            f = int(e["frame"])
            assert e["subject"].decode() == subj and e["sequence"].decode() == f"{subj}_{task}"
            want = [fixtures.label_of(fixtures.code_for(f"{stem}_{a}", f))
                    for a in fixtures.FERA_INT_AUS]
            np.testing.assert_array_equal(e["au_intensity"], want)
            occ = [fixtures.code_for(f"{stem}_occ{a}", f) % 2
                   for a in (1, 4, 6, 7, 10, 12, 14, 15, 17, 23)]
            np.testing.assert_array_equal(e["au_occurrence"], occ)
            # Decoder frame 0 carries label frame 5: the image is the one written for frame f.
            assert abs(float(e["image"].mean()) - fixtures.frame_value(f)) < 4
            assert np.isnan(e["pose"]["yaw"]) and np.isnan(e["pose"]["pitch"])


def test_alignment_report(built):
    builder, _ = built
    seqs = builder.info.metadata["alignment"]["train"]["sequences"]
    assert [s["sequence"] for s in seqs] == ["TR_F001_T1_1", "TR_F001_T1_6"]
    assert all(s["labels_without_frames"] == 1 and s["emitted"] == 5 and s["label_rows"] == 6
               for s in seqs)


def test_pose_subset_and_fixed_origin(tmp_path):
    fixtures.write_fera2017(tmp_path / "manual", {("TR", "F001", "T1"): (1, 6)}, range(1, 4),
                            range(1, 4))
    builder = _build(tmp_path, tmp_path / "manual", poses=(6,), first_video_frame=0)
    ex = list(tfds.as_numpy(builder.as_dataset(split="train")))
    # Origin 0: decoder frames 0..2 carry label frames 0..2; label frame 0 does not exist, frame 3 has
    # no video frame.
    assert sorted(int(e["frame"]) for e in ex) == [1, 2]
    assert {int(e["pose"]["id"]) for e in ex} == {6}
    rep = builder.info.metadata["alignment"]["train"]["totals"]
    assert rep["frames_without_labels"] == 1 and rep["labels_without_frames"] == 1


def test_missing_intensity_file_is_named(tmp_path):
    fixtures.write_fera2017(tmp_path / "manual", {("TR", "F001", "T1"): (6,)}, range(1, 3), range(1, 3),
                            skip_int=("FERA17_TR_F001_T1", "AU14"))
    with pytest.raises(_common.MissingDataError, match=r"AU14 intensity labels of FERA17_TR_F001_T1"):
        _build(tmp_path, tmp_path / "manual")
