"""UNBC-McMaster builder on a generated fixture tree: sparse FACS files, empty files, PSPI."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxau.data.builders import _common, unbc_pain  # noqa: E402
from tests.data import fixtures  # noqa: E402

SEQS = {("042-ll042", "ll042t1aaaff"): (range(1, 6), range(1, 5)),    # frame 5: no FACS file
        ("043-jh043", "jh043t2aaaff"): (range(1, 4), range(1, 5))}    # FACS frame 4: no image


def _prepare(tmp_path, manual):
    builder = unbc_pain.UnbcPain(data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


def test_labels_pspi_and_report(tmp_path):
    fixtures.write_unbc(tmp_path / "m", SEQS)
    builder = _prepare(tmp_path, tmp_path / "m")
    ex = list(tfds.as_numpy(builder.as_dataset(split="train")))
    got = sorted((e["sequence"].decode(), int(e["frame"])) for e in ex)
    assert got == [("jh043t2aaaff", f) for f in (1, 2, 3)] + [("ll042t1aaaff", f) for f in (1, 2, 3, 4)]
    empty = 0
    for e in ex:
        seq, f = e["sequence"].decode(), int(e["frame"])
        active = fixtures.unbc_active(seq, f)
        want = [active.get(a, 0) for a in fixtures.UNBC_AUS]
        np.testing.assert_array_equal(e["au_intensity"], want)
        assert float(e["pspi"]) == pytest.approx(sum(active.values()))
        assert abs(float(e["image"].mean()) - fixtures.frame_value(f)) < 1  # PNG: lossless
        empty += not active
    assert empty >= 2  # frames 3 of each sequence: empty FACS files are "no AU present", not unknown
    seq = {r["sequence"]: r for r in builder.info.metadata["alignment"]["train"]["sequences"]}
    assert seq["ll042t1aaaff"]["frames_without_labels"] == 1
    assert seq["jh043t2aaaff"]["labels_without_frames"] == 1


def test_facs_parser_rejects_bad_line(tmp_path):
    p = fixtures.write_lines(tmp_path / "x_facs.txt", ["4 7 0 0"])
    with pytest.raises(_common.LabelFormatError, match="x_facs.txt, line 1: intensity 7.0 of AU4"):
        unbc_pain.read_facs_file(p)


def test_missing_facs_folder(tmp_path):
    fixtures.write_unbc(tmp_path / "m", SEQS, skip_facs_dir="jh043t2aaaff")
    with pytest.raises(_common.MissingDataError,
                       match=r"FACS labels of sequence jh043t2aaaff: "
                             r"expected at .*FACS/043-jh043/jh043t2aaaff"):
        _prepare(tmp_path, tmp_path / "m")
