"""Intensity-driven skin detail: wrinkles, furrows and bulges as a height field on the template.

The head has only ~2.2k face vertices, so shading alone leaves AU01/02/04/06/09 nearly invisible at
256 px. Each cue here is an analytic height field ``h(p)`` (decimetres, negative = groove) over the
*template rest position* ``p`` of the pixel; because rest positions are interpolated from vertices, the
detail moves with the skin. The renderer bump-maps with the screen-space gradient of ``h`` and darkens
the albedo in grooves. Amplitudes scale with the AU's blend factor (:func:`au_mapping.response`), and a
small static part grows with age.

Template landmarks used below (decimetres; eyes at y=0, x=+-0.31): brows y~0.17..0.24, nasal root
y~0.04, alar base (+-0.17, -0.48), mouth corners (+-0.25, -0.67), chin y~-1.1.
"""

from __future__ import annotations

import jax.numpy as jnp

# Cue -> the AUs whose response drives it, with weights (the renderer passes a dict of responses).
CUE_AUS = {
    "forehead_central": {"AU01": 1.0, "AU02": 0.3},
    "forehead_lateral": {"AU02": 1.0, "AU01": 0.3},
    "glabella": {"AU04": 1.0, "AU09": 0.3},
    "crows_feet": {"AU06": 1.0, "AU07": 0.3},
    "cheek_bulge": {"AU06": 1.0, "AU12": 0.4},
    "nose_wrinkle": {"AU09": 1.0},
    "nasolabial": {"AU10": 0.8, "AU12": 0.8, "AU09": 0.5},
    "chin": {"AU17": 1.0},
}


def cue_strengths(responses: dict, age) -> dict:
    """Per-cue strength in [0, ~1.3]: AU responses mixed by :data:`CUE_AUS`, plus age detail."""
    out = {}
    for cue, mix in CUE_AUS.items():
        s = sum(w * responses.get(a, 0.0) for a, w in mix.items())
        out[cue] = jnp.clip(s, 0.0, 1.3)
    return out


def _window(t, lo, hi, soft):
    return jnp.clip((t - lo) / soft, 0, 1) * jnp.clip((hi - t) / soft, 0, 1)


def _segment_distance(x, y, a, b):
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = jnp.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return jnp.sqrt((x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2), t


def height_field(p, strengths: dict, age, front):
    """Returns ``(h, groove)`` at template positions ``p[...,3]``.

    Args:
      p: template rest positions of the pixels.
      strengths: :func:`cue_strengths` output (scalars).
      age: 0 young .. 1 old; adds static lines (forehead, nasolabial, crow's feet).
      front: ``[...]`` 1 on front-facing skin, 0 elsewhere (eyes, teeth, back of the head).

    Returns:
      h: height in decimetres (grooves negative).
      groove: [0, 1] how deep in a crease the pixel is (for albedo darkening).
    """
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    ax = jnp.abs(x)
    age_s = 0.25 * age

    # Forehead lines: arched horizontal grooves every ~7 mm between brows and hairline.
    yy = y - 0.35 * x * x
    lines = jnp.maximum(jnp.cos(2 * jnp.pi * (yy - 0.30) / 0.075), 0.0) ** 3
    fwin = _window(yy, 0.31, 0.62, 0.06) * _window(ax, -1.0, 0.55, 0.12)
    central = jnp.exp(-(x / 0.22) ** 2)
    lateral = jnp.exp(-((ax - 0.36) / 0.15) ** 2)
    amp_fh = (strengths["forehead_central"] * central + strengths["forehead_lateral"] * lateral
              + age_s * 0.6)
    g_fh = lines * fwin * amp_fh

    # Glabellar furrows: two vertical grooves between the brows, a fold at the nasal root.
    vert = jnp.exp(-((ax - 0.055) / 0.013) ** 2) * _window(y, 0.07, 0.30, 0.05)
    root = jnp.exp(-((y - 0.06) / 0.014) ** 2) * _window(ax, -1.0, 0.10, 0.04)
    g_gl = (vert + 0.6 * root) * strengths["glabella"]

    # Crow's feet: a fan of grooves from the outer eye corner (+-0.44, -0.01).
    rx, ry = ax - 0.42, y + 0.01
    r = jnp.sqrt(rx * rx + ry * ry)
    phi = jnp.arctan2(ry, rx)
    fan = jnp.maximum(jnp.cos(phi * 11.0), 0.0) ** 4 * _window(r, 0.06, 0.17, 0.03) * (rx > 0)
    g_cf = fan * (strengths["crows_feet"] + age_s)

    # Cheek bulge (AU06/AU12): raised cheek under the eye bounded by the infraorbital furrow.
    bulge = jnp.exp(-(((ax - 0.30) / 0.13) ** 2 + ((y + 0.22) / 0.08) ** 2))
    infra = jnp.exp(-((y + 0.12 + 0.25 * (ax - 0.3) ** 2) / 0.014) ** 2) * _window(ax, 0.16, 0.45, 0.05)
    h_cheek = strengths["cheek_bulge"] * (0.012 * bulge - 0.004 * infra)

    # Nose wrinkles (AU09): transverse lines on the bridge.
    nl = jnp.maximum(jnp.cos(2 * jnp.pi * (y - 0.02 + 0.8 * x * x) / 0.045), 0.0) ** 3
    g_nw = nl * _window(y, -0.22, 0.04, 0.04) * _window(ax, -1.0, 0.12, 0.04) * strengths["nose_wrinkle"]

    # Nasolabial furrow: from the alar base to beside the mouth corner, lateral cheek raised.
    d, t = _segment_distance(ax, y, (0.19, -0.45), (0.33, -0.78))
    side = (ax - (0.19 + t * 0.14)) > 0
    nlf = jnp.exp(-(d / 0.016) ** 2) * _window(t, -0.1, 1.0, 0.15)
    s_nl = strengths["nasolabial"] + age_s * 1.5
    h_nl = -0.008 * nlf * s_nl + 0.007 * s_nl * jnp.exp(-((d - 0.045) / 0.03) ** 2) * side * (t < 0.95)
    g_nl = nlf * s_nl

    # Chin dimpling (AU17): bumps on the chin boss and a deeper mentolabial sulcus.
    cw = jnp.exp(-((x / 0.13) ** 2 + ((y + 0.97) / 0.09) ** 2))
    bumps = (jnp.sin(x * 180.0 + 1.3) * jnp.sin(y * 170.0) + 0.5 * jnp.sin((x + y) * 260.0)) / 1.5
    sulcus = jnp.exp(-((y + 0.84 + 0.6 * x * x) / 0.02) ** 2) * _window(ax, -1.0, 0.16, 0.05)
    h_chin = strengths["chin"] * (0.008 * bumps * cw - 0.009 * sulcus)

    groove = jnp.clip(g_fh + g_gl + g_cf + g_nw + 0.8 * g_nl, 0.0, 1.5)
    h = -0.006 * (g_fh + g_gl + g_cf + g_nw) + h_cheek + h_nl + h_chin
    return h * front, jnp.clip(groove * front, 0.0, 1.0)
