"""Our AU -> ARKit blendshape mapping and the per-level response (documented, tested).

Every simulated AU drives a fixed combination of the 52 "Face Units" blendshapes. An AU's continuous
intensity ``i`` in [0, 5] (0 absent, 1..5 = FACS A..E) maps to a blend factor ``r(i)`` in [0, 1] by
:data:`LEVEL_RESPONSE` (piecewise linear through the level centres), then to blendshape weights
``r(i) * weight``. FACS levels are not equally spaced in appearance (A = trace, E = maximum; B and C
cover most of the range), which is what the response encodes.

``weight`` at E was chosen by rendering each AU (see the contact sheet in BUILD_NOTES): e.g. ARKit's
``jawOpen`` = 1 is an extreme 39 mm drop, so AU26 tops out at 0.45 and AU25 (lips part, jaw nearly
closed) uses ``mouthLowerDown`` with only a little ``jawOpen``.

The appearance cues each AU adds on top of the geometry (wrinkles, furrows, ...) are in
:mod:`jaxau.face.appearance`; :data:`CUES` lists them per AU.
"""

from __future__ import annotations

import numpy as np

# Blend factor at intensities 0, 1 (A, trace), 2 (B), 3 (C), 4 (D), 5 (E); linear in between.
LEVEL_RESPONSE = (0.0, 0.18, 0.4, 0.62, 0.82, 1.0)


def _lr(name, w=1.0):
    return ((f"{name}Left", w), (f"{name}Right", w))


# AU -> ((blendshape, weight at level E), ...)
AU_BLENDSHAPES = {
    "AU01": (("browInnerUp", 1.0),),
    "AU02": _lr("browOuterUp"),
    "AU04": _lr("browDown") + (("browInnerUp", -0.15),),
    "AU05": _lr("eyeWide"),
    # AU06 lifts the cheeks and narrows the eye from below (the lower lid bulges up).
    "AU06": _lr("cheekSquint") + _lr("eyeSquint", 0.35),
    "AU07": _lr("eyeSquint"),
    "AU09": _lr("noseSneer") + _lr("mouthUpperUp", 0.25),
    "AU10": _lr("mouthUpperUp"),
    "AU12": _lr("mouthSmile", 0.85),
    "AU14": _lr("mouthDimple"),
    "AU15": _lr("mouthFrown"),
    "AU17": (("mouthShrugLower", 1.0), ("mouthShrugUpper", 0.3)),
    "AU20": _lr("mouthStretch"),
    "AU23": (("mouthPucker", 0.2),) + _lr("mouthPress", 0.5),
    "AU24": _lr("mouthPress"),
    "AU25": _lr("mouthLowerDown", 0.7) + (("jawOpen", 0.06),),
    "AU26": (("jawOpen", 0.45),),
    "AU45": _lr("eyeBlink"),
}

SIMULATED_AUS = tuple(sorted(AU_BLENDSHAPES))

# The appearance cues of each AU (implemented in jaxau.face.appearance).
CUES = {
    "AU01": "horizontal forehead lines, central",
    "AU02": "horizontal forehead lines, lateral",
    "AU04": "vertical glabellar furrows + a horizontal fold at the nasal root",
    "AU06": "crow's feet at the outer eye corners + lower-lid/cheek bulge shading",
    "AU09": "transverse wrinkles on the nose bridge",
    "AU10": "deepened nasolabial furrows",
    "AU12": "deepened nasolabial furrows",
    "AU17": "chin boss dimpling (peau d'orange)",
    "AU25": "dark mouth interior, teeth visible (geometry)",
    "AU26": "dark mouth interior, teeth visible (geometry)",
}


def response(intensity):
    """Blend factor in [0, 1] for continuous intensities in [0, 5] (numpy or jax arrays)."""
    import jax.numpy as jnp

    xp = jnp if not isinstance(intensity, np.ndarray) else np
    levels = xp.asarray(LEVEL_RESPONSE, dtype=xp.float32)
    return xp.interp(xp.clip(intensity, 0.0, 5.0), xp.arange(6, dtype=xp.float32), levels)


def mapping_matrix(aus, blendshape_names) -> np.ndarray:
    """``[len(aus), 52]`` matrix M with blendshape weights ``response(i) @ M``.

    Raises:
      KeyError: naming AUs we have no mapping for, or blendshapes the asset lacks.
    """
    aus = tuple(aus)
    unknown = [a for a in aus if a not in AU_BLENDSHAPES]
    if unknown:
        raise KeyError(f"No blendshape mapping for {unknown}; simulated AUs are {SIMULATED_AUS}.")
    names = list(blendshape_names)
    m = np.zeros((len(aus), len(names)), np.float32)
    for i, a in enumerate(aus):
        for bs, w in AU_BLENDSHAPES[a]:
            if bs not in names:
                raise KeyError(f"AU {a} maps to blendshape {bs!r}, which the asset lacks.")
            m[i, names.index(bs)] += w
    return m
