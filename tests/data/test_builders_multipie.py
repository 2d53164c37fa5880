"""Multi-PIE builder on a generated fixture tree: expression per (session, recording)."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxau.data.builders import _common, multipie  # noqa: E402
from tests.data import fixtures  # noqa: E402


def _prepare(tmp_path, manual):
    builder = multipie.MultiPie(data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


def test_expressions_by_session_and_recording(tmp_path):
    # (session, subject, recording, images); (1, 4) is not an expression recording.
    fixtures.write_multipie(tmp_path / "m", [(1, "001", 1, 2), (1, "001", 2, 1), (2, "002", 2, 1),
                                             (2, "002", 3, 1), (4, "001", 3, 1), (1, "002", 4, 1)])
    builder = _prepare(tmp_path, tmp_path / "m")
    names = builder.info.features["expression"].names
    ex = list(tfds.as_numpy(builder.as_dataset(split="train")))
    got = sorted((e["sequence"].decode(), int(e["frame"]), names[e["expression"]]) for e in ex)
    assert got == [("001_01_01", 0, "neutral"), ("001_01_01", 1, "neutral"), ("001_01_02", 0, "smile"),
                   ("001_04_03", 0, "scream"), ("002_02_02", 0, "surprise"), ("002_02_03", 0, "squint")]
    for e in ex:
        assert e["au_intensity"].shape == (0,)
        assert float(e["pose"]["yaw"]) == 0.0 and int(e["pose"]["id"]) == 0
        s, r, f = int(e["session"]), int(e["recording"]), int(e["frame"])
        assert abs(float(e["image"].mean()) - fixtures.frame_value(10 * s + r + f)) < 1
    assert builder.info.metadata["au_names"] == []
    seq = {r["sequence"]: r for r in builder.info.metadata["alignment"]["train"]["sequences"]}
    assert seq["002_01_04"]["frames_without_labels"] == 1 and seq["002_01_04"]["emitted"] == 0


def test_missing_sessions(tmp_path):
    (tmp_path / "m" / "Multi-Pie").mkdir(parents=True)
    with pytest.raises(_common.MissingDataError, match=r"session folders .*Multi-Pie/data"):
        _prepare(tmp_path, tmp_path / "m")
