"""BP4D (FERA 2015) and BP4D+ builders on generated fixture trees."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxau.data.builders import _common, bp4d, bp4d_plus  # noqa: E402
from tests.data import fixtures  # noqa: E402


def _prepare(builder, manual):
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


def _check_labels(e, seq, frame):
    want_int = [fixtures.label_of(fixtures.code_for(f"{seq}_{a}", frame)) for a in fixtures.BP4D_INT_AUS]
    np.testing.assert_array_equal(e["au_intensity"], want_int)
    want_occ = [fixtures.label_of(fixtures.occ_code(seq, a, frame)) for a in fixtures.BP4D_OCC_AUS]
    np.testing.assert_array_equal(e["au_occurrence"], want_occ)
    assert abs(float(e["image"].mean()) - fixtures.frame_value(frame)) < 4


# BP4D frame numbers do not start at 1 (F001_T1 starts at 2440); zero padding differs per folder.
BP4D_SEQS = {"F001_T1": (range(2440, 2445), range(2441, 2446), 4),
             "F002_T1": (range(7, 10), range(7, 10), 5),
             "M003_T2": (range(1, 3), range(1, 3), 1)}


@pytest.fixture(scope="module")
def bp4d_built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bp4d")
    fixtures.write_bp4d(tmp / "manual", BP4D_SEQS)
    # A damaged image: skipped and counted, its label row not emitted.
    (tmp / "manual" / "Sequences" / "M003" / "T2" / "2.jpg").write_bytes(b"\xff\xd8 truncated")
    builder = _prepare(bp4d.Bp4d(data_dir=str(tmp / "data")), tmp / "manual")
    return builder, {s: list(tfds.as_numpy(builder.as_dataset(split=s))) for s in builder.info.splits}


def test_bp4d_fera2015_split_and_labels(bp4d_built):
    builder, splits = bp4d_built
    # Odd-numbered subjects train, even-numbered validate (FERA 2015).
    assert {e["subject"].decode() for e in splits["train"]} == {"F001", "M003"}
    assert {e["subject"].decode() for e in splits["validation"]} == {"F002"}
    got = sorted((e["sequence"].decode(), int(e["frame"])) for s in splits.values() for e in s)
    assert got == ([("F001_T1", f) for f in range(2441, 2445)] + [("F002_T1", f) for f in (7, 8, 9)]
                   + [("M003_T2", 1)])
    for s in splits.values():
        for e in s:
            _check_labels(e, e["sequence"].decode(), int(e["frame"]))
    seq = {r["sequence"]: r for r in builder.info.metadata["alignment"]["train"]["sequences"]}
    assert seq["F001_T1"]["frames_without_labels"] == 1  # image 2440 is not coded
    assert seq["F001_T1"]["labels_without_frames"] == 1  # label 2445 has no image
    assert seq["M003_T2"]["corrupt_frames"] == 1 and seq["M003_T2"]["emitted"] == 1
    assert builder.info.metadata["occurrence_au_names"][0] == "AU01"


def test_bp4d_missing_intensity_file(tmp_path):
    fixtures.write_bp4d(tmp_path / "m", {"F001_T1": (range(1, 3), range(1, 3), 4)},
                        skip_int=("F001_T1", "AU17"))
    with pytest.raises(_common.MissingDataError,
                       match=r"AU17 intensity labels of F001_T1: expected at .*AU17/F001_T1_AU17\.csv"):
        _prepare(bp4d.Bp4d(data_dir=str(tmp_path / "data")), tmp_path / "m")


def test_bp4d_plus_partial_coding_range(tmp_path):
    # T1 has 8 frames of which only 3..5 are coded; T2 has no labels at all (uncoded task).
    fixtures.write_bp4d_plus(tmp_path / "m", {"F001": {"T1": range(1, 9), "T2": range(1, 3)},
                                              "M002": {"T1": range(1, 3)}},
                             {"F001_T1": range(3, 6), "M002_T1": range(1, 3)})
    builder = _prepare(bp4d_plus.Bp4dPlus(data_dir=str(tmp_path / "data")), tmp_path / "m")
    ex = list(tfds.as_numpy(builder.as_dataset(split="train")))
    got = sorted((e["sequence"].decode(), int(e["frame"])) for e in ex)
    assert got == [("F001_T1", 3), ("F001_T1", 4), ("F001_T1", 5), ("M002_T1", 1), ("M002_T1", 2)]
    for e in ex:
        _check_labels(e, e["sequence"].decode(), int(e["frame"]))
    seq = {r["sequence"]: r for r in builder.info.metadata["alignment"]["train"]["sequences"]}
    assert seq["F001_T1"]["frames_without_labels"] == 5 and seq["F001_T1"]["emitted"] == 3
    assert set(seq) == {"F001_T1", "M002_T1"}


def test_bp4d_plus_missing_zip(tmp_path):
    fixtures.write_bp4d_plus(tmp_path / "m", {"F001": {"T1": range(1, 3)}},
                             {"F001_T1": range(1, 3), "F003_T1": range(1, 3)})
    with pytest.raises(_common.MissingDataError,
                       match=r"image archive of F003: expected at .*F003\.zip"):
        _prepare(bp4d_plus.Bp4dPlus(data_dir=str(tmp_path / "data")), tmp_path / "m")
