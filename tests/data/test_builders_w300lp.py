"""300W-LP builder: crops and UV position maps against a brute-force numpy port of face3d's steps."""

import math

import cv2
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from jaxau.data.builders import _common, w300lp  # noqa: E402
from tests.data import fixtures  # noqa: E402

RES = 32
FOLDERS = ("IBUG", "IBUG_Flip")


def _fit(seed):
    rng = np.random.default_rng(seed)
    pose = np.array([[0.1, -0.25, 0.05, 50.0, 55.0, 0.0, 30.0]]) + rng.normal(0, 0.02, (1, 7))
    return {"Pose_Para": pose,
            "Shape_Para": rng.normal(0, 1, (3, 1)), "Exp_Para": rng.normal(0, 1, (2, 1)),
            "pt2d": rng.uniform(30, 80, (2, 68))}


def _reference(bfm, fit, h):
    """face3d's pipeline written out directly (numpy, per-pixel loop over triangles)."""
    mu = (bfm["shapeMU"] + bfm["expMU"]).ravel()
    v = mu + bfm["shapePC"] @ fit["Shape_Para"].ravel() + bfm["expPC"] @ fit["Exp_Para"].ravel()
    v = v.reshape(3, -1, order="F").T
    x, y, z = fit["Pose_Para"][0, :3]
    rx = np.array([[1, 0, 0], [0, math.cos(x), math.sin(x)], [0, -math.sin(x), math.cos(x)]])
    ry = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(z), math.sin(z), 0], [-math.sin(z), math.cos(z), 0], [0, 0, 1]])
    v = fit["Pose_Para"][0, 6] * v @ (rx @ ry @ rz).T + fit["Pose_Para"][0, 3:6]
    v[:, 1] = h - v[:, 1] - 1
    kpt = v[bfm["kpt_ind"].astype(int).ravel() - 1].astype(np.int32)
    l, r, t, b = kpt[:, 0].min(), kpt[:, 0].max(), kpt[:, 1].min(), kpt[:, 1].max()
    c = np.array([r - (r - l) / 2.0, b - (b - t) / 2.0])
    size = int((r - l + b - t) / 2 * 1.5)
    src = np.float32([[c[0] - size / 2, c[1] - size / 2], [c[0] - size / 2, c[1] + size / 2],
                      [c[0] + size / 2, c[1] - size / 2]])
    m = cv2.getAffineTransform(src, np.float32([[0, 0], [0, RES - 1], [RES - 1, 0]])).astype(np.float64)
    pos = np.c_[v[:, :2] @ m[:, :2].T + m[:, 2], v[:, 2] * m[0, 0]]
    pos[:, 2] -= pos[:, 2].min()
    uv = bfm["UV"].copy()
    uv = np.c_[uv[:, 0] * (RES - 1), RES - uv[:, 1] * (RES - 1) - 1]
    tris = np.r_[bfm["tri"].T, bfm["tri_mouth"].T].astype(int) - 1
    out = np.zeros((RES, RES, 3))
    inside = np.zeros((RES, RES), bool)  # strictly inside some triangle (away from edges)
    p0, p1, p2 = uv[tris[:, 0]], uv[tris[:, 1]], uv[tris[:, 2]]
    basis_inv = np.linalg.inv(np.stack([p1 - p0, p2 - p0], -1))  # [T, 2, 2]
    for i in range(RES):
        for j in range(RES):
            w = np.einsum("tab,tb->ta", basis_inv, np.array([j, i]) - p0)
            bary = np.c_[1 - w.sum(1), w]
            hit = np.flatnonzero(bary.min(1) >= -1e-9)
            if hit.size:  # face3d draws triangles in order; equal depths keep the first
                t = hit[0]
                out[i, j] = bary[t] @ pos[tris[t]]
                inside[i, j] = bary[t].min() > 1e-3
    return out, inside, m


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("w300lp")
    bfm = fixtures.tiny_bfm()
    fits = {"IBUG/IBUG_image_001_1_0": _fit(0), "IBUG/IBUG_image_001_1_1": _fit(1),
            "IBUG_Flip/IBUG_image_001_1_0": _fit(2), "IBUG/IBUG_image_002_1_0": None}
    fixtures.write_300wlp(tmp / "m", bfm, fits)
    builder = w300lp.W300lp(config=w300lp.W300lpConfig(name="t", folders=FOLDERS, resolution=RES),
                            data_dir=str(tmp / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(tmp / "m")))
    return bfm, fits, builder, list(tfds.as_numpy(builder.as_dataset(split="train")))


def test_examples_and_report(built):
    _, _, builder, ex = built
    got = sorted((e["sequence"].decode(), int(e["frame"])) for e in ex)
    assert got == [("IBUG/IBUG_image_001_1", 0), ("IBUG/IBUG_image_001_1", 1),
                   ("IBUG_Flip/IBUG_image_001_1", 0)]
    assert {e["subject"].decode() for e in ex} == {"IBUG_image_001_1"}
    totals = builder.info.metadata["alignment"]["train"]["totals"]
    assert totals["frames_without_labels"] == 1  # IBUG_image_002_1_0.jpg has no .mat


def test_position_map_crop_and_landmarks_match_reference(built):
    bfm, fits, _, ex = built
    for e in ex:
        fit = fits[f"{e['sequence'].decode()}_{int(e['frame'])}"]
        ref, inside, m = _reference(bfm, fit, h=120)
        posmap = e["uv_position_map"]
        assert posmap.shape == (RES, RES, 3) and inside.sum() > 100
        # The rasterizer snaps UV vertices to 1/256 px and takes barycentrics from the snapped
        # positions: up to 1/512 px times the local slope (~1-2 crop px per UV px here) of error.
        np.testing.assert_allclose(posmap[inside], ref[inside], atol=5e-3)
        assert posmap[:, :, 2][inside].min() >= -1e-4
        covered = np.abs(posmap).sum(-1) > 0
        assert np.all(covered[inside]) and not covered[0, 0]
        # Landmarks and crop follow the same similarity.
        np.testing.assert_allclose(e["landmarks_2d"], fit["pt2d"].T @ m[:, :2].T + m[:, 2], atol=1e-3)
        inv = np.linalg.inv(np.r_[m, [[0, 0, 1]]])
        for i, j in ((8, 8), (16, 20), (24, 12)):
            sx, sy = inv[:2] @ [j, i, 1]
            if 1 < sx < 98 and 1 < sy < 118:
                assert abs(float(e["image"][i, j, 0]) - 2 * sx) < 4
                assert abs(float(e["image"][i, j, 1]) - 2 * sy) < 4
        assert float(e["pose"]["yaw"]) == pytest.approx(math.degrees(fit["Pose_Para"][0, 1]), rel=1e-5)


def test_missing_bfm_is_named(tmp_path):
    fixtures.write_300wlp(tmp_path / "m", fixtures.tiny_bfm(), {"IBUG/IBUG_image_001_1_0": _fit(0)})
    (tmp_path / "m" / "BFM" / "BFM_UV.mat").unlink()
    builder = w300lp.W300lp(config=w300lp.W300lpConfig(name="t", folders=("IBUG",), resolution=RES),
                            data_dir=str(tmp_path / "data"))
    with pytest.raises(_common.MissingDataError,
                       match=r"BFM UV coordinates BFM_UV.mat: expected at .*BFM_UV\.mat"):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "m")))
