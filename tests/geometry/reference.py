"""Brute-force numpy rasterizer (loop over pixels x triangles, float64) used as the test oracle.

Written independently of jaxau.geometry.rasterize from the documented conventions only: snap x, y to
1/256 px, pixel centres at +0.5, top-left fill rule, larger z wins, ties -> lower triangle index.
In float64 all edge functions of snapped coordinates are exact, so no canonical ordering is needed.
"""

import numpy as np


def snap(a):
    return np.round(np.asarray(a, np.float64) * 256.0) / 256.0


def rasterize_reference(vertices, triangles, height, width, cull_backfaces=False):
    """Returns (triangle_id [H,W], barycentric [H,W,3], depth [H,W], second_best_depth [H,W])."""
    v = np.asarray(vertices, np.float64)
    tri_id = np.full((height, width), -1, np.int64)
    bary = np.zeros((height, width, 3))
    depth = np.full((height, width), -np.inf)
    second = np.full((height, width), -np.inf)
    for t, (a, b, c) in enumerate(np.asarray(triangles)):
        p = v[[a, b, c]]
        if not np.all(np.isfinite(p)):
            continue
        xy = snap(p[:, :2])
        z = p[:, 2]
        area = ((xy[1, 0] - xy[0, 0]) * (xy[2, 1] - xy[0, 1])
                - (xy[1, 1] - xy[0, 1]) * (xy[2, 0] - xy[0, 0]))
        if area == 0 or (cull_backfaces and area > 0):
            continue
        for i in range(height):
            for j in range(width):
                px, py = j + 0.5, i + 0.5
                w = np.zeros(3)
                inside = True
                for k in range(3):
                    s, e = xy[(k + 1) % 3], xy[(k + 2) % 3]
                    w[k] = (e[0] - s[0]) * (py - s[1]) - (e[1] - s[1]) * (px - s[0])
                    # Direction with the interior on the positive side.
                    dx, dy = np.sign(area) * (e[0] - s[0]), np.sign(area) * (e[1] - s[1])
                    top_left = dy < 0 or (dy == 0 and dx > 0)
                    val = w[k] * np.sign(area)
                    if not (val > 0 or (val == 0 and top_left)):
                        inside = False
                if not inside:
                    continue
                w = w / area
                # Plane form: exactly z0 on a constant-depth triangle (w @ z would not be).
                d = float(z[0] + w[1] * (z[1] - z[0]) + w[2] * (z[2] - z[0]))
                if d > depth[i, j]:
                    second[i, j] = depth[i, j]
                    depth[i, j], tri_id[i, j], bary[i, j] = d, t, w
                else:
                    # Equal depth keeps the earlier (lower) index.
                    second[i, j] = max(second[i, j], d)
    depth[tri_id < 0] = 0.0
    return tri_id, bary, depth, second
