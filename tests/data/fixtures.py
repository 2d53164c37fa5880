"""Writers of tiny fixture trees that reproduce the real datasets' documented layouts and quirks.

Every image/frame is a flat colour that encodes its frame number (:func:`frame_value`), and every
label is a deterministic function of (file, frame) (:func:`code_for`), so tests can check exactly
which frame ended up with which label after a build. Layouts follow
``/work/shared/reference/datasets.md``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

SIZE = 32


def frame_value(frame: int) -> int:
    """Grey level of the fixture image for (label) frame number ``frame``: distinct for 12 frames."""
    return 15 + 20 * (frame % 12)


def code_for(tag: str, frame: int) -> int:
    """A deterministic raw label code in {0..5, 9} for file ``tag`` at ``frame``."""
    h = (zlib.crc32(tag.encode()) + 7 * frame) % 8
    return 9 if h == 6 else min(h, 5)


def label_of(code: int) -> int:
    """The jaxau label of a raw code (the mapping under test, written out independently)."""
    return code if 0 <= code <= 5 else -1


def image(frame: int, size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), frame_value(frame), np.uint8)


def write_video(path: Path, frame_numbers: Sequence[int], fourcc: str = "MJPG", fps: float = 20.0,
                size: int = SIZE) -> Path:
    """Writes one frame per entry of ``frame_numbers`` (each coloured by its number)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size, size))
    assert writer.isOpened(), f"cv2.VideoWriter could not open {path}"
    for f in frame_numbers:
        writer.write(image(f, size))
    writer.release()
    return path


def corrupt_avi_frame(path: Path, index: int) -> None:
    """Overwrites the JPEG payload of the ``index``-th video chunk of an MJPG .avi with zeros.

    The RIFF structure (chunk sizes, index) stays intact, so the demuxer still sees the frame but
    the decoder rejects it ("No JPEG data found"), like a damaged frame on disk.
    """
    data = bytearray(path.read_bytes())
    movi = data.find(b"movi")
    assert movi > 0, f"{path} has no movi list"
    pos, n = movi + 4, 0
    while pos + 8 <= len(data):
        cid, size = bytes(data[pos:pos + 4]), struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"idx1":
            break
        if cid[2:] == b"dc":
            if n == index:
                data[pos + 8:pos + 8 + size] = b"\0" * size
                path.write_bytes(bytes(data))
                return
            n += 1
        pos += 8 + size + (size & 1)
    raise AssertionError(f"{path}: no video chunk {index}")


def write_image(path: Path, frame: int, size: int = SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), image(frame, size))
    assert ok, path
    return path


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# ------------------------------------------------------------------------------------------- DISFA
DISFA_AU_NUMBERS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)


def write_disfa(root: Path, subjects: dict[str, str], num_frames: int, num_label_rows: int,
                corrupt: dict[str, int] | None = None) -> None:
    """DISFA tree: ``subjects`` maps 'SN001' -> video file name (to vary capitalisation).

    Videos have ``num_frames`` frames (decoder frame i = label frame i + 1); label files have
    ``num_label_rows`` rows from frame 1. ``corrupt`` maps subject -> 0-based frame to corrupt.
    """
    for subj, video_name in subjects.items():
        for cam in ("Left", "Right"):
            name = video_name if cam == "Left" else video_name.replace("eft", "ight").replace(
                "EFT", "IGHT")
            name = name.replace("Light", "Right").replace("light", "right")
            path = write_video(root / f"Videos_{cam}Camera" / name, range(1, num_frames + 1))
            if corrupt and subj in corrupt:
                corrupt_avi_frame(path, corrupt[subj])
        for n in DISFA_AU_NUMBERS:
            write_lines(root / "ActionUnit_Labels" / subj / f"{subj}_au{n}.txt",
                        (f"{f},{code_for(f'{subj}_au{n}', f)}" for f in range(1, num_label_rows + 1)))
