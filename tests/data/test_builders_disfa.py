"""DISFA builder on a generated fixture tree: case variants, 1-based frames, a corrupt frame."""

import re

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxau import au as au_lib  # noqa: E402
from jaxau.data.builders import _common, disfa  # noqa: E402
from tests.data import fixtures  # noqa: E402

SUBJECTS = {"SN001": ("LeftVideoSN001_comp.avi", "RightVideoSN001_comp.avi"),
            "SN002": ("leftVideoSN002_Comp.avi", "rightVideoSN002_Comp.avi")}
NUM_FRAMES, NUM_LABEL_ROWS, CORRUPT = 6, 7, {"SN002": 2}


def _build(tmp_path, manual, config="left"):
    builder = disfa.Disfa(config=config, data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("disfa")
    fixtures.write_disfa(tmp / "manual", SUBJECTS, NUM_FRAMES, NUM_LABEL_ROWS, corrupt=CORRUPT)
    builder = _build(tmp, tmp / "manual", "right")
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    return tmp, builder, examples


def test_labels_and_frames_align_exactly(built):
    _, builder, examples = built
    assert builder.info.metadata["au_names"] == list(au_lib.DISFA_AUS)
    # 6 frames each, minus SN002's corrupt decoder frame 2 (= label frame 3).
    got = {(e["subject"].decode(), int(e["frame"])): e for e in examples}
    assert sorted(got) == [("SN001", f) for f in range(1, 7)] + [("SN002", f) for f in (1, 2, 4, 5, 6)]
    for (subj, frame), e in got.items():
        want = [fixtures.label_of(fixtures.code_for(f"{subj}_au{n}", frame))
                for n in fixtures.DISFA_AU_NUMBERS]
        np.testing.assert_array_equal(e["au_intensity"], want)
        assert e["au_intensity"].dtype == np.int32
        # The image is the one written for this label frame (JPEG: within a few grey levels).
        assert abs(float(e["image"].mean()) - fixtures.frame_value(frame)) < 4
        assert e["image"].shape == (32, 32, 3)
        assert int(e["pose"]["id"]) == 1 and np.isnan(e["pose"]["yaw"])


def test_unknown_code_becomes_minus_one(built):
    _, _, examples = built
    labels = np.stack([e["au_intensity"] for e in examples])
    assert (labels == -1).any() and labels.max() <= 5 and labels.min() == -1


def test_alignment_report_counts(built):
    tmp, builder, _ = built
    # Reload from disk: the report is stored with the dataset.
    reloaded = tfds.builder_cls("disfa")(config="right", data_dir=str(tmp / "data"))
    report = reloaded.info.metadata["alignment"]["train"]
    seqs = {s["sequence"]: s for s in report["sequences"]}
    assert seqs["SN001_right"]["labels_without_frames"] == 1  # label frame 7 has no video frame
    assert seqs["SN001_right"]["corrupt_frames"] == 0 and seqs["SN001_right"]["emitted"] == 6
    assert seqs["SN002_right"]["corrupt_frames"] == 1 and seqs["SN002_right"]["emitted"] == 5
    assert report["totals"]["emitted"] == 11 and report["totals"]["labels_without_frames"] == 2


def test_rebuild_is_a_no_op_and_deterministic(built, tmp_path):
    tmp, builder, examples = built
    # Prepared already: a second prepare must not need the manual files at all.
    again = _build(tmp, tmp / "no-such-dir", "right")
    assert again.info.splits["train"].num_examples == len(examples)
    # A fresh build of the same files writes the same records in the same order.
    fresh = _build(tmp_path, tmp / "manual", "right")
    second = list(tfds.as_numpy(fresh.as_dataset(split="train")))
    assert [(e["subject"], e["frame"]) for e in second] == [(e["subject"], e["frame"]) for e in examples]
    for a, b in zip(second, examples):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["au_intensity"], b["au_intensity"])


def test_missing_label_file_is_named_and_a_rerun_recovers(tmp_path):
    fixtures.write_disfa(tmp_path / "manual", {"SN001": SUBJECTS["SN001"]}, 2, 2)
    label = tmp_path / "manual" / "ActionUnit_Labels" / "SN001" / "SN001_au12.txt"
    content = label.read_text()
    label.unlink()
    with pytest.raises(_common.MissingDataError,
                       match=r"AU12 labels of SN001: expected at .*SN001_au12\.txt"):
        _build(tmp_path, tmp_path / "manual")
    # The failed build left nothing half-written: putting the file back and re-running works.
    label.write_text(content)
    assert _build(tmp_path, tmp_path / "manual").info.splits["train"].num_examples == 2


def test_subject_splits_and_frame_stride(built, tmp_path):
    tmp, _, _ = built
    cfg = disfa.DisfaConfig(name="custom", camera="left", frame_stride=2,
                            subject_splits=(("train", ("SN001",)), ("test", ("SN002",))))
    builder = _build(tmp_path, tmp / "manual", cfg)
    frames = {s: sorted((e["subject"].decode(), int(e["frame"]))
                        for e in tfds.as_numpy(builder.as_dataset(split=s))) for s in ("train", "test")}
    assert frames == {"train": [("SN001", 2), ("SN001", 4), ("SN001", 6)],
                      "test": [("SN002", 2), ("SN002", 4), ("SN002", 6)]}


def test_missing_video_folder_is_named(tmp_path):
    fixtures.write_disfa(tmp_path / "manual", {"SN001": SUBJECTS["SN001"]}, 2, 2)
    import shutil
    shutil.rmtree(tmp_path / "manual" / "Videos_LeftCamera")
    with pytest.raises(_common.MissingDataError, match="left camera video folder"):
        _build(tmp_path, tmp_path / "manual", "left")


def test_a_tree_without_the_layouts_files_says_so_in_its_first_line(tmp_path):
    fixtures.write_disfa(tmp_path / "manual", {"SN001": SUBJECTS["SN001"]}, 2, 2)
    # Folders of the layout, files elsewhere: the label files sit outside their subject folder.
    labels = tmp_path / "manual" / "ActionUnit_Labels" / "SN001"
    for label in labels.iterdir():
        label.rename(tmp_path / "manual" / label.name)
    labels.rmdir()
    for video in (tmp_path / "manual" / "Videos_LeftCamera").iterdir():
        video.rename(tmp_path / "manual" / video.name)
    with pytest.raises(_common.MissingDataError) as info:
        _build(tmp_path, tmp_path / "manual", "left")
    first = str(info.value).splitlines()[0]
    assert first.startswith("disfa: a labelled sequence (manual_dir holds ")
    assert "files, none where the official layout puts them) not found at " in first
    assert first.endswith("point manual_dir at your copy of disfa in its official layout (README 'Real datasets').")
    assert "Videos_LeftCamera/LeftVideoSN001_comp.avi" in str(info.value)  # the layout follows


def test_a_missing_file_names_itself_and_the_fix_in_the_first_line(tmp_path):
    fixtures.write_disfa(tmp_path / "manual", {"SN001": SUBJECTS["SN001"]}, 2, 2)
    (tmp_path / "manual" / "Videos_LeftCamera" / "LeftVideoSN001_comp.avi").unlink()
    with pytest.raises(_common.MissingDataError) as info:
        _build(tmp_path, tmp_path / "manual", "left")
    assert re.fullmatch(r"disfa: left video of SN001 not found at \S+LeftVideoSN001_comp\.avi; put the files "
                        r"where the layout below says", str(info.value).splitlines()[0])
