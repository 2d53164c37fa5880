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


def write_disfa(root: Path, subjects: dict[str, tuple[str, str]], num_frames: int,
                num_label_rows: int, corrupt: dict[str, int] | None = None) -> None:
    """DISFA tree: ``subjects`` maps 'SN001' -> (left, right) video file names (their case varies).

    Videos have ``num_frames`` frames (decoder frame i = label frame i + 1); label files have
    ``num_label_rows`` rows from frame 1. ``corrupt`` maps subject -> 0-based frame to corrupt (in
    both cameras).
    """
    for subj, names in subjects.items():
        for cam, name in zip(("Left", "Right"), names):
            path = write_video(root / f"Videos_{cam}Camera" / name, range(1, num_frames + 1))
            if corrupt and subj in corrupt:
                corrupt_avi_frame(path, corrupt[subj])
        for n in DISFA_AU_NUMBERS:
            write_lines(root / "ActionUnit_Labels" / subj / f"{subj}_au{n}.txt",
                        (f"{f},{code_for(f'{subj}_au{n}', f)}" for f in range(1, num_label_rows + 1)))


# --------------------------------------------------------------------------------------- FERA 2017
FERA_INT_AUS = ("AU01", "AU04", "AU06", "AU10", "AU12", "AU14", "AU17")
FERA_OCC_HEADER = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)  # extra columns: select by name


def write_fera2017(root: Path, sequences: dict[tuple[str, str, str], Sequence[int]],
                   video_frames: Sequence[int], label_frames: Sequence[int],
                   skip_int: tuple[str, str] | None = None) -> None:
    """FERA 2017 tree: ``sequences`` maps (partition, subj, task) -> poses.

    Videos (mp4v) hold ``video_frames`` (label frame numbers, not starting at 1); occurrence and
    intensity CSVs hold ``label_frames``. ``skip_int=(stem, AU)`` leaves one intensity file out.
    """
    for (part, subj, task), poses in sequences.items():
        stem = f"FERA17_{part}_{subj}_{task}"
        folder = root / ("train" if part == "TR" else "valid")
        for pose in poses:
            write_video(folder / f"{stem}_{pose}.mp4", video_frames, fourcc="mp4v", fps=25)
        header = "Frame," + ",".join(str(a) for a in FERA_OCC_HEADER)
        write_lines(folder / "occ" / f"{stem}.csv", [header] + [
            f"{f}," + ",".join(str(code_for(f"{stem}_occ{a}", f) % 2) for a in FERA_OCC_HEADER)
            for f in label_frames])
        for a in FERA_INT_AUS:
            if skip_int == (stem, a):
                continue
            write_lines(folder / "int" / f"{stem}_{a}_Int.csv",
                        (f"{f},{code_for(f'{stem}_{a}', f)}" for f in label_frames))


# -------------------------------------------------------------------------------------- BP4D, BP4D+
BP4D_INT_AUS = ("AU06", "AU10", "AU12", "AU14", "AU17")
BP4D_OCC_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
BP4D_PLUS_OCC_HEADER = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24,
                        27, 28, 32, 33, 34, 35, 36, 37, 38, 39)


def occ_code(seq: str, au: int, frame: int) -> int:
    """Occurrence code 0 / 1 / 9 (unknown)."""
    c = code_for(f"{seq}_occ{au}", frame)
    return 9 if c == 9 else c % 2


def _bp4d_labels(occ_path: Path, int_dir: Path, seq: str, header: Sequence[str],
                 au_columns: Sequence[int | None], label_frames: Sequence[int],
                 skip_int: str | None = None) -> None:
    write_lines(occ_path, [",".join(header)] + [
        ",".join([str(f)] + [str(occ_code(seq, a, f) if a is not None else 0) for a in au_columns])
        for f in label_frames])
    for a in BP4D_INT_AUS:
        if a != skip_int:
            write_lines(int_dir / a / f"{seq}_{a}.csv",
                        (f"{f},{code_for(f'{seq}_{a}', f)}" for f in label_frames))


def write_bp4d(root: Path, sequences: dict[str, tuple[Sequence[int], Sequence[int], int]],
               skip_int: tuple[str, str] | None = None) -> None:
    """BP4D (FERA 2015) tree: 'F001_T1' -> (image frames, label frames, zero padding width).

    Occurrence files have BP4D's 100-column header ``0,1,...,99`` (column k = AU k); images live in
    ``Sequences/<subj>/<task>/<frame>.jpg``.
    """
    header = [str(k) for k in range(100)]
    for seq, (image_frames, label_frames, pad) in sequences.items():
        subj, task = seq.split("_")
        for f in image_frames:
            write_image(root / "Sequences" / subj / task / f"{f:0{pad}d}.jpg", f)
        _bp4d_labels(root / "AUCoding" / f"{seq}.csv", root / "AU Intensity Codes3.0", seq, header,
                     list(range(1, 100)), label_frames,
                     skip_int[1] if skip_int and skip_int[0] == seq else None)


def write_bp4d_plus(root: Path, subjects: dict[str, dict[str, Sequence[int]]],
                    coded: dict[str, Sequence[int]]) -> None:
    """BP4D+ tree: subject -> task -> image frames (zipped); coded: 'F001_T1' -> labelled frames."""
    import zipfile

    raw = root / "RawData"
    (raw / "2D+3D").mkdir(parents=True, exist_ok=True)
    for subj, tasks in subjects.items():
        with zipfile.ZipFile(raw / "2D+3D" / f"{subj}.zip", "w") as zf:
            for task, frames in tasks.items():
                for f in frames:
                    ok, buf = cv2.imencode(".jpg", image(f))
                    zf.writestr(f"{subj}/{task}/{f:04d}.jpg", buf.tobytes())
    header = ["Frame"] + [str(a) for a in BP4D_PLUS_OCC_HEADER]
    for seq, frames in coded.items():
        _bp4d_labels(raw / "AUCoding" / "AU_OCC" / f"{seq}.csv", raw / "AUCoding" / "AU_INT", seq,
                     header, list(BP4D_PLUS_OCC_HEADER), frames)


# -------------------------------------------------------------------------------------------- UNBC
UNBC_AUS = (4, 6, 7, 9, 10, 12, 20, 25, 26, 43)


def unbc_active(seq: str, frame: int) -> dict[int, int]:
    """Active AUs of a fixture frame: au -> intensity (AU43 binary); {} on every third frame."""
    if frame % 3 == 0:
        return {}
    out = {}
    for a in UNBC_AUS:
        c = code_for(f"{seq}_{a}", frame)
        if 1 <= c <= 5:
            out[a] = 1 if a == 43 else c
    return out


def write_unbc(root: Path, sequences: dict[tuple[str, str], tuple[Sequence[int], Sequence[int]]],
               skip_facs_dir: str | None = None) -> None:
    """UNBC tree: (subject dir, sequence) -> (image frames, labelled frames).

    FACS lines are written in scientific notation with side columns, plus an out-of-set AU50 line;
    every third frame's file is empty (scored, no AU). PSPI = sum of intensities (any number works).
    """
    for (subj, seq), (image_frames, label_frames) in sequences.items():
        for f in image_frames:
            write_image(root / "Images" / subj / seq / f"{seq}{f:03d}.png", f)
        if seq == skip_facs_dir:
            continue
        for f in label_frames:
            active = unbc_active(seq, f)
            lines = [f"   {a:.7e}   {v:.7e}   0.0000000e+00   0.0000000e+00" for a, v in active.items()]
            if active:
                lines.append("   5.0000000e+01   1.0000000e+00   0.0000000e+00   0.0000000e+00")
            write_lines(root / "Frame_Labels" / "FACS" / subj / seq / f"{seq}{f:03d}_facs.txt", lines)
            write_lines(root / "Frame_Labels" / "PSPI" / subj / seq / f"{seq}{f:03d}_facs.txt",
                        [f"   {float(sum(active.values())):.7e}"])


# --------------------------------------------------------------------------------------- Multi-PIE
def write_multipie(root: Path, images: Sequence[tuple[int, str, int, int]]) -> None:
    """Multi-PIE tree: (session, subject, recording, count) -> high-res frontal images."""
    for session, subj, rec, count in images:
        for i in range(count):
            write_image(root / "Multi-Pie" / "data" / f"session{session:02d}" / "highres" / subj /
                        f"{subj}_{rec:02d}_{i:02d}_051.png", 10 * session + rec + i)


# ----------------------------------------------------------------------------------------- 300W-LP
def tiny_bfm(n: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """A small face3d-style BFM: an n x n curved grid, 3 shape and 2 expression components.

    Two grid triangles are moved to ``tri_mouth`` (as BFM keeps its mouth triangles apart); indices
    are 1-based and ``tri`` is stored [3, T] as in face3d's BFM.mat.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / (n - 1) * 2 - 1
    z = 0.4 * (1 - 0.5 * (x**2 + y**2))
    verts = np.stack([x, y, z], -1).reshape(-1, 3)
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            tris += [(a, b, d), (b, e, d)]
    tris = np.array(tris) + 1
    mouth = [len(tris) // 2, len(tris) // 2 + 1]
    uv = np.stack([(x.ravel() + 1) / 2 * 0.8 + 0.1, (y.ravel() + 1) / 2 * 0.8 + 0.1], -1)
    uv += rng.uniform(-0.02, 0.02, uv.shape)
    boundary = [i for i in range(n * n) if i // n in (0, n - 1) or i % n in (0, n - 1)]
    return {
        "shapeMU": verts.reshape(-1, 1), "expMU": np.zeros((3 * n * n, 1)),
        "shapePC": rng.normal(0, 0.05, (3 * n * n, 3)), "expPC": rng.normal(0, 0.05, (3 * n * n, 2)),
        "tri": np.delete(tris, mouth, axis=0).T.astype(np.float64),
        "tri_mouth": tris[mouth].T.astype(np.float64),
        "kpt_ind": (np.resize(boundary, 68) + 1).astype(np.float64)[None],
        "UV": uv,
    }


def write_300wlp(root: Path, bfm: dict[str, np.ndarray], items: dict[str, dict | None],
                 image_size: tuple[int, int] = (120, 100)) -> None:
    """300W-LP tree: folder/stem -> .mat fields (None = image without .mat); BFM files in BFM/.

    Images are ramps (R = 2x, G = 2y) so crops can be checked against the crop transform.
    """
    import scipy.io

    (root / "BFM").mkdir(parents=True, exist_ok=True)
    model = {k: v for k, v in bfm.items() if k != "UV"}
    scipy.io.savemat(root / "BFM" / "BFM.mat", {"model": model})
    scipy.io.savemat(root / "BFM" / "BFM_UV.mat", {"UV": bfm["UV"]})
    h, w = image_size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([2 * xx, 2 * yy, np.full_like(xx, 100)], -1).astype(np.uint8)
    for name, fields in items.items():
        path = root / "300W_LP" / f"{name}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if fields is not False:
            cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
        if fields:
            scipy.io.savemat(path.with_suffix(".mat"), fields)
