"""Contact sheets for previews: frames with landmarks, aligned outputs side by side (cv2, numpy)."""

from __future__ import annotations

import numpy as np

from jaxau import io_utils


def one_per_pose(pose_id: np.ndarray) -> np.ndarray:
    """Index of the first frame of every pose id, in pose order."""
    pose_id = np.asarray(pose_id)
    return np.asarray([int(np.flatnonzero(pose_id == p)[0]) for p in np.unique(pose_id)], np.int64)


def draw_landmarks(image: np.ndarray, predicted=None, truth=None) -> np.ndarray:
    """A copy of an RGB uint8 frame with predicted (green) and ground-truth (red) landmark dots."""
    import cv2

    out = np.ascontiguousarray(np.asarray(image, np.uint8).copy())
    radius = max(1, out.shape[0] // 128)
    for pts, color in ((truth, (255, 0, 0)), (predicted, (0, 255, 0))):
        if pts is None:
            continue
        for x, y in np.asarray(pts)[:, :2]:
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(out, (int(round(x - 0.5)), int(round(y - 0.5))), radius, color, -1)
    return out


def write_sheet(path: str, rows: list[list[np.ndarray]], labels: list[str] | None = None, tile: int = 128) -> None:
    """Writes a PNG grid: ``rows`` of RGB tiles (resized to ``tile``), columns labelled ``labels``."""
    import cv2

    def fit(im):
        im = np.asarray(im)
        if im.dtype != np.uint8:
            im = np.clip(np.round(im), 0, 255).astype(np.uint8)
        return cv2.resize(im, (tile, tile), interpolation=cv2.INTER_AREA if im.shape[0] > tile else cv2.INTER_LINEAR)

    ncol = max(len(r) for r in rows)
    head = 14 if labels else 0
    sheet = np.full((head + tile * len(rows), tile * ncol, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            sheet[head + i * tile:head + (i + 1) * tile, j * tile:(j + 1) * tile] = fit(im)
    for j, text in enumerate(labels or []):
        cv2.putText(sheet, str(text)[:18], (j * tile + 3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    ok, buf = cv2.imencode(".png", sheet[..., ::-1])
    if not ok:
        raise RuntimeError(f"PNG encoding of the preview {path} failed.")
    io_utils.write_bytes(path, buf.tobytes())
