"""The procedural eyebrow curve, in rest-pose head coordinates (decimetres, origin between the eyes).

The mesh has no brow geometry or mask, so brows are painted into the albedo as a function of each
pixel's *rest-pose* position (interpolated from the vertices). Because rest positions travel with the
vertices, the painted brows follow the browInnerUp / browOuterUp / browDown blendshapes exactly, and the
brow landmarks (iBUG 17..26) are picked on the same curve by tools/build_face_asset.py.

Works on numpy and jax arrays alike (only elementwise arithmetic).
"""

from __future__ import annotations

# Brow shape relative to the eye centre, in decimetres (eye centre x ~ 0.31 for a 62 mm IPD).
BROW_INNER_X = 0.12      # inner head, 12 mm from the midline
BROW_OUTER_DX = 0.30     # outer tail, 30 mm lateral of the eye centre
BROW_INNER_DY = 0.17     # heights above the eye centre: inner head,
BROW_PEAK_DY = 0.235     # arch (at 2/3 of the length),
BROW_OUTER_DY = 0.185    # and tail
BROW_INNER_HALF_WIDTH = 0.045
BROW_OUTER_HALF_WIDTH = 0.018


def _curve_y(t, eye_y):
    # A quadratic through (0, inner), (2/3, peak), (1, outer).
    a = BROW_INNER_DY
    # Solve y(t) = a + b t + c t^2 with y(2/3) = peak and y(1) = outer.
    p, o = BROW_PEAK_DY, BROW_OUTER_DY
    c = (o - a - 1.5 * (p - a)) / (1.0 - 2.0 / 3.0)
    b = (o - a) - c
    return eye_y + a + b * t + c * t * t


def brow_curve_fn(eye_center_left):
    """Returns ``f(t) -> (x, y)`` on the subject's left brow, t=0 inner head, t=1 outer tail."""
    ex, ey = float(eye_center_left[0]), float(eye_center_left[1])
    x1 = ex + BROW_OUTER_DX

    def f(t):
        return BROW_INNER_X + t * (x1 - BROW_INNER_X), _curve_y(t, ey)

    return f


def brow_density(x, y, eye_x, eye_y, xp, thickness=1.0):
    """Brow coverage in [0, 1] at rest-pose (x, y) (mirrored in x), for numpy or jax ``xp``.

    Args:
      x, y: rest-pose coordinates of the pixels (any shape).
      eye_x, eye_y: the left eye centre.
      xp: ``numpy`` or ``jax.numpy``.
      thickness: identity scale of the brow width (0.7 thin .. 1.4 bushy).
    """
    ax = xp.abs(x)
    x1 = eye_x + BROW_OUTER_DX
    t = (ax - BROW_INNER_X) / (x1 - BROW_INNER_X)
    tc = xp.clip(t, 0.0, 1.0)
    cy = _curve_y(tc, eye_y)
    half = thickness * (BROW_INNER_HALF_WIDTH + (BROW_OUTER_HALF_WIDTH - BROW_INNER_HALF_WIDTH) * tc)
    # The brow sits slightly above the curve at the inner head (hair grows upwards there).
    d = xp.abs(y - cy - 0.3 * half * (1 - tc)) / half
    body = xp.clip(1.5 - 1.5 * d, 0.0, 1.0)
    # Soft ends: the inner head fades in over 4 mm, the tail tapers over the last 15 %.
    ends = xp.clip((t + 0.03) / 0.06, 0.0, 1.0) * xp.clip((1.0 - t) / 0.15, 0.0, 1.0)
    return body * ends
