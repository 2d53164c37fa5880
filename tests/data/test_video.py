"""OpenCV decoding: frame numbers stay right past corrupt frames, which are skipped and counted."""

import numpy as np
import pytest

from jaxau.data import video
from tests.data import fixtures


def _decode(path):
    report = video.DecodeReport(path=str(path))
    frames = list(video.iter_frames(path, report))
    return [i for i, _ in frames], [float(im.mean()) for _, im in frames], report


@pytest.mark.parametrize("bad", [[3], [0], [7], [2, 3, 4]])
def test_corrupt_mjpg_frames_are_skipped_and_counted(tmp_path, bad):
    path = fixtures.write_video(tmp_path / "v.avi", range(8))
    for b in bad:
        fixtures.corrupt_avi_frame(path, b)
    idx, means, report = _decode(path)
    good = [i for i in range(8) if i not in bad]
    assert idx == good
    assert report.corrupt_frames == bad and report.num_corrupt == len(bad)
    assert report.decoded == len(good) and report.expected_frames == 8
    # Each decoded frame is the one written at that index (its colour encodes the index).
    np.testing.assert_allclose(means, [fixtures.frame_value(i) for i in good], atol=4)


def test_mp4_and_rgb_order(tmp_path):
    path = fixtures.write_video(tmp_path / "v.mp4", range(5), fourcc="mp4v", fps=25)
    info = video.video_info(path)
    assert (info.frame_count, info.fps, info.width, info.height) == (5, 25.0, 32, 32)
    idx, means, report = _decode(path)
    assert idx == list(range(5)) and report.corrupt_frames == []
    # A pure-red BGR frame comes back red in RGB.
    import cv2
    w = cv2.VideoWriter(str(tmp_path / "red.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (16, 16))
    w.write(np.tile(np.array([0, 0, 255], np.uint8), (16, 16, 1)))
    w.release()
    (_, rgb), = video.iter_frames(tmp_path / "red.avi")
    assert rgb[..., 0].mean() > 200 and rgb[..., 2].mean() < 50


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        list(video.iter_frames(tmp_path / "nope.avi"))
    (tmp_path / "junk.avi").write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="junk.avi"):
        video.video_info(tmp_path / "junk.avi")
