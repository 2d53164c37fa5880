"""Label-file parsing helpers shared by the builders (no TensorFlow)."""

import numpy as np
import pytest

from jaxau.data.builders import _common
from tests.data import fixtures


def test_frame_code_file_with_and_without_header(tmp_path):
    a = fixtures.write_lines(tmp_path / "a.csv", ["2440,0", "2441,9", "", "2442,5.0"])
    b = fixtures.write_lines(tmp_path / "b.csv", ["frame,intensity", "1,3", "2,1"])
    assert _common.read_frame_code_file(a, "t") == {2440: 0, 2441: 9, 2442: 5}
    assert _common.read_frame_code_file(b, "t") == {1: 3, 2: 1}
    dup = fixtures.write_lines(tmp_path / "d.csv", ["1,0", "1,2"])
    with pytest.raises(_common.LabelFormatError, match=r"d.csv: frame numbers repeat \(e.g. \[1\]\)"):
        _common.read_frame_code_file(dup, "t")
    bad = fixtures.write_lines(tmp_path / "e.csv", ["1,0", "2,x"])
    with pytest.raises(_common.LabelFormatError, match="e.csv, line 2"):
        _common.read_frame_code_file(bad, "t")
    with pytest.raises(_common.MissingDataError, match="label file: expected at .*nope.csv"):
        _common.read_frame_code_file(tmp_path / "nope.csv", "t")


def test_au_table_selects_columns_by_header_name(tmp_path):
    # Same AU data, two header conventions: BP4D's numeric 0..k and named, shuffled columns.
    p1 = fixtures.write_lines(tmp_path / "p1.csv", ["0,1,2,3,4", "10,1,0,9,1"])
    p2 = fixtures.write_lines(tmp_path / "p2.csv", ["Frame,AU04,au2,AU01", "10,1,0,1"])
    for p in (p1, p2):
        frames, codes = _common.read_au_table(p, "t", ("AU01", "AU04", "AU02"))
        np.testing.assert_array_equal(frames, [10])
        np.testing.assert_array_equal(codes, [[1, 1, 0]])
    with pytest.raises(_common.LabelFormatError, match=r"no column for \['AU12'\]; the header is"):
        _common.read_au_table(p2, "t", ("AU12",))


def test_label_table_maps_codes_and_fills_unknown():
    t = _common.LabelTable({"au_intensity": ("AU01", "AU02"), "au_occurrence": ("AU01",)})
    t.set_code("au_intensity", "AU02", 5, 9)
    t.set_code("au_intensity", "AU01", 5, 3)
    t.set_codes("au_occurrence", [6], np.array([[1]]))
    np.testing.assert_array_equal(t.rows[5]["au_intensity"], [3, -1])
    np.testing.assert_array_equal(t.rows[5]["au_occurrence"], [-1])
    np.testing.assert_array_equal(t.rows[6]["au_intensity"], [-1, -1])
    assert len(t) == 2 and 6 in t


def test_match_entries_ignores_case(tmp_path):
    for n in ("LeftVideoSN001_comp.avi", "leftVideoSN002_Comp.avi", "RightVideoSN001_comp.avi"):
        (tmp_path / n).touch()
    got = [p.name for p in _common.match_entries(tmp_path, r"LeftVideoSN\d{3}_comp\.avi")]
    assert got == ["LeftVideoSN001_comp.avi", "leftVideoSN002_Comp.avi"]


def test_assign_splits():
    assert _common.assign_splits(["b", "a"], None, "train", "t") == {"train": ["a", "b"]}
    assert _common.assign_splits(["a", "b"], {"x": ["b"]}, "train", "t") == {"x": ["b"]}
    with pytest.raises(ValueError, match="disjoint"):
        _common.assign_splits(["a"], {"x": ["a"], "y": ["a"]}, "train", "t")
    with pytest.raises(_common.MissingDataError, match=r"data of subject c \(split 'x'\)"):
        _common.assign_splits(["a"], {"x": ["c"]}, "train", "t")
