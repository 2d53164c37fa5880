"""Speed of the real-dataset builders' hot paths (run: python benchmarks/data_builders.py).

1. OpenCV video decoding through jaxau.data.video.iter_frames vs a bare cv2 read loop (MJPG .avi).
2. PRNet UV position-map rendering at BFM scale (53k vertices, 106k triangles, 256x256) with jaxau's
   rasterizer, after compilation.
3. End-to-end DISFA build (decode + label join + JPEG encode + TFRecord write), examples/s.
Timings are the best of a few repeats; the machine is shared, so treat them as noisy.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _best(fn, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_video(tmp: Path, frames=200, size=(640, 480)):
    import cv2

    from jaxau.data import video

    path = tmp / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, size)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), np.uint8)
    for i in range(frames):
        w.write(np.roll(base, i, axis=1))
    w.release()

    def bare():
        cap = cv2.VideoCapture(str(path))
        while cap.read()[0]:
            pass

    t_bare = _best(bare)
    t_ours = _best(lambda: sum(1 for _ in video.iter_frames(path)))
    print(f"video decode {size[0]}x{size[1]} MJPG: iter_frames {frames / t_ours:.0f} frames/s, "
          f"bare cv2 read {frames / t_bare:.0f} frames/s")


def bench_posmap(n=231, res=256):
    from jaxau.data.builders import prnet_posmap

    y, x = np.mgrid[0:n, 0:n] / (n - 1)
    uv = np.stack([x.ravel() * 0.9 + 0.05, y.ravel() * 0.9 + 0.05], -1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, b, c], -1), np.stack([b, d, c], -1)]).astype(np.int32)
    pos = np.stack([x.ravel() * 200 + 20, y.ravel() * 200 + 30, np.sin(3 * x.ravel()) * 40 + 40], -1)
    verts = prnet_posmap.uv_raster_coords(uv, res)
    t = time.perf_counter()
    renderer = prnet_posmap.PositionMapRenderer(verts, tris, res)
    renderer(pos)
    setup_s = time.perf_counter() - t
    best = _best(lambda: renderer(pos), 5)
    raster = _best(lambda: prnet_posmap.render_position_map(verts, tris, pos, res), 2)
    print(f"position map {res}x{res}, {n * n} vertices, {len(tris)} triangles: {best * 1e3:.2f} ms "
          f"per map with the UV rasterization cached ({1 / best:.0f} maps/s; one-off setup incl. "
          f"compile {setup_s:.1f} s); re-rasterizing every map: {raster * 1e3:.0f} ms")


def bench_disfa_build(tmp: Path, frames=100):
    import tensorflow_datasets as tfds

    from jaxau.data.builders import disfa
    from tests.data import fixtures

    subjects = {"SN001": ("LeftVideoSN001_comp.avi", "RightVideoSN001_comp.avi"),
                "SN002": ("LeftVideoSN002_comp.avi", "RightVideoSN002_comp.avi")}
    # 320x240 frames (DISFA's real resolution is not confirmed; this measures per-frame overhead).
    for subj, names in subjects.items():
        for cam, name in zip(("Left", "Right"), names):
            fixtures.write_video(tmp / "m" / f"Videos_{cam}Camera" / name, range(1, frames + 1),
                                 size=240)
        for n in fixtures.DISFA_AU_NUMBERS:
            fixtures.write_lines(tmp / "m" / "ActionUnit_Labels" / subj / f"{subj}_au{n}.txt",
                                 (f"{f},{f % 6}" for f in range(1, frames + 1)))
    times = []
    for r in range(2):
        builder = disfa.Disfa(config="left", data_dir=str(tmp / f"data{r}"))
        t = time.perf_counter()
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(tmp / "m")))
        times.append(time.perf_counter() - t)
    n = 2 * frames
    print(f"DISFA build, {n} frames of 240x240: {n / min(times):.0f} examples/s "
          f"({min(times):.2f} s best of {len(times)})")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        bench_video(Path(d))
        bench_posmap()
        bench_disfa_build(Path(d))
