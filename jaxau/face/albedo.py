"""Procedural albedo: skin tone, blotches, brows, lips, eyes (iris/pupil), teeth, hair, stubble.

No photo texture ships with the MakeHuman assets, so colour is a function of each pixel's template
rest position and a few per-vertex masks (lips, eyelids, mouth cavity, eye directions). Colours are
linear RGB in [0, 1]; the renderer gamma-encodes at the end.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxau.face import brows

# sRGB skin tones from very light to very dark (a Fitzpatrick-like ramp), interpolated by `melanin`.
SKIN_TONES_SRGB = np.array([
    [245, 214, 196], [234, 189, 157], [214, 160, 122], [184, 128, 92], [141, 92, 62],
    [101, 63, 42], [66, 40, 28]], np.float32) / 255.0
HAIR_SRGB = np.array([[20, 16, 14], [45, 32, 24], [80, 55, 36], [150, 110, 70], [190, 160, 110],
                      [120, 60, 30], [160, 158, 155]], np.float32) / 255.0
IRIS_SRGB = np.array([[70, 42, 22], [40, 25, 15], [110, 85, 45], [80, 110, 70], [80, 120, 160],
                      [110, 120, 130]], np.float32) / 255.0
NUM_BLOTCH_WAVES = 8


def srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class AlbedoParams:
    """One identity's colouring (numpy; stacked over a batch into a dict of arrays)."""

    skin: np.ndarray          # [3] linear RGB
    lips: np.ndarray          # [3]
    hair: np.ndarray          # [3] brows, scalp hair and stubble
    iris: np.ndarray          # [3]
    brow_thickness: float
    brow_density: float
    hairline: float           # template y of the hairline (dm); > 2 means bald
    stubble: float            # 0 none .. 1 dense
    blotch_k: np.ndarray      # [NUM_BLOTCH_WAVES, 3]
    blotch_phase: np.ndarray  # [NUM_BLOTCH_WAVES]
    age: float

    def as_arrays(self) -> dict:
        return {f.name: np.asarray(getattr(self, f.name), np.float32) for f in dataclasses.fields(self)}


def sample_albedo(rng: np.random.Generator, gender: float, age: float, ethnicity: np.ndarray
                  ) -> AlbedoParams:
    """Draws an identity's colours; skin tone follows the shape's ethnicity mix loosely."""
    # Melanin: mean by ethnicity mix (african dark, asian/caucasian lighter), wide spread.
    mean = 0.78 * ethnicity[0] + 0.33 * ethnicity[1] + 0.18 * ethnicity[2]
    mel = float(np.clip(rng.normal(mean, 0.15), 0.0, 1.0))
    pos = mel * (len(SKIN_TONES_SRGB) - 1)
    i = min(int(pos), len(SKIN_TONES_SRGB) - 2)
    skin = SKIN_TONES_SRGB[i] * (i + 1 - pos) + SKIN_TONES_SRGB[i + 1] * (pos - i)
    skin = skin * rng.uniform(0.93, 1.05) + np.array([rng.normal(0, 0.02), 0.0, rng.normal(0, 0.015)])
    skin = srgb_to_linear(np.clip(skin, 0.02, 1.0))
    lips = skin * np.array([0.78, 0.45, 0.47]) * rng.uniform(0.85, 1.1)
    dark_hair = mel > 0.45 or rng.random() < 0.6
    hair = HAIR_SRGB[rng.integers(0, 3) if dark_hair else rng.integers(2, 6)]
    if age > 0.6 and rng.random() < 0.7:
        hair = HAIR_SRGB[6]
    hair = srgb_to_linear(hair * rng.uniform(0.9, 1.1))
    iris = IRIS_SRGB[rng.integers(0, 3) if mel > 0.35 else rng.integers(0, len(IRIS_SRGB))]
    iris = srgb_to_linear(iris * rng.uniform(0.85, 1.15))
    male = gender > 0.5
    k = rng.normal(size=(NUM_BLOTCH_WAVES, 3))
    k = k / np.linalg.norm(k, axis=1, keepdims=True) * rng.uniform(8.0, 30.0, (NUM_BLOTCH_WAVES, 1))
    return AlbedoParams(
        skin=skin, lips=lips.astype(np.float32),
        hair=hair, iris=iris,
        brow_thickness=float(rng.uniform(1.0, 1.35) if male else rng.uniform(0.75, 1.1)),
        brow_density=float(rng.uniform(0.75, 0.95)),
        hairline=float(rng.uniform(0.62, 0.78) if rng.random() < 0.85 else 5.0),
        stubble=float(rng.uniform(0.2, 0.8) if male and rng.random() < 0.4 else 0.0),
        blotch_k=k.astype(np.float32),
        blotch_phase=rng.uniform(0, 2 * np.pi, NUM_BLOTCH_WAVES).astype(np.float32), age=float(age))


def _hash_noise(p, freq):
    """Deterministic high-frequency pseudo-noise in [-1, 1] from positions (sin-hash)."""
    q = jnp.floor(p * freq)
    n = jnp.sin(q[..., 0] * 12.9898 + q[..., 1] * 78.233 + q[..., 2] * 37.719) * 43758.5453
    return 2.0 * (n - jnp.floor(n)) - 1.0


def skin_albedo(p, masks, params: dict, eye_center):
    """Albedo of skin pixels (lips, brows, hair, stubble, blotches).

    Args:
      p: ``[H,W,3]`` template rest positions.
      masks: dict of ``[H,W]`` interpolated vertex masks: lips, eyelids, lid_margin, ears.
      params: :meth:`AlbedoParams.as_arrays` of this identity.
      eye_center: the template's left eye centre (x, y, z).
    """
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    skin = params["skin"]
    # Low-frequency blotchiness and redness on cheeks, nose and ears.
    w = jnp.sin(p @ params["blotch_k"].T + params["blotch_phase"]).mean(-1)
    col = skin * (1.0 + 0.06 * w[..., None])
    cheek = jnp.exp(-(((jnp.abs(x) - 0.32) / 0.15) ** 2 + ((y + 0.3) / 0.15) ** 2))
    nose = jnp.exp(-((x / 0.09) ** 2 + ((y + 0.38) / 0.1) ** 2))
    red = 0.18 * cheek + 0.12 * nose + 0.15 * masks["ears"]
    col = col * (1.0 + red[..., None] * jnp.array([0.10, -0.12, -0.10]))
    # Fine grain (pores at this scale) so large areas are not flat.
    col = col * (1.0 + 0.035 * _hash_noise(p, 220.0)[..., None])
    # Lips.
    lip = jnp.clip(masks["lips"] * 1.4 - 0.2, 0.0, 1.0)[..., None]
    col = col * (1 - lip) + params["lips"] * lip
    # Eyelids slightly darker/pinker, lid margin dark (lashes).
    col = col * (1.0 - 0.08 * masks["eyelids"][..., None])
    # Only the margin itself is lash-dark; its one ring (0.45) gets a light shadow.
    lash = jnp.clip(masks["lid_margin"] * 1.2 - 0.3, 0, 1)[..., None]
    col = col * (1 - 0.6 * lash) + params["hair"] * 0.6 * lash * 0.5
    # Brows: painted on the rest pose, with hair-strand texture.
    bd = brows.brow_density(x, y, eye_center[0], eye_center[1], jnp, params["brow_thickness"])
    strands = 0.75 + 0.25 * _hash_noise(p * jnp.array([1.0, 0.25, 1.0]), 260.0)
    front = (z > -0.25).astype(p.dtype)
    b = (bd * params["brow_density"] * strands * front)[..., None]
    col = col * (1 - b) + params["hair"] * b
    # Scalp hair above the hairline (front) and over the back of the skull.
    hair_line = params["hairline"] + 0.22 * x * x - 0.35 * jnp.clip(-z - 0.1, 0, 1)
    ear_gap = jnp.clip((jnp.abs(x) - 0.62) / 0.05, 0, 1) * jnp.clip((-0.1 - y) / 0.1, 0, 1)
    hmask = jnp.clip((y - hair_line) / 0.04, 0.0, 1.0) * (1.0 - ear_gap) * (1.0 - masks["ears"])
    hair_tex = 0.8 + 0.2 * _hash_noise(p * jnp.array([1.0, 0.2, 1.0]), 200.0)
    col = col * (1 - hmask[..., None]) + params["hair"] * hair_tex[..., None] * hmask[..., None]
    # Stubble on the beard area (chin, jaw, upper lip), never on the lips.
    beard = (jnp.clip((-0.42 - y) / 0.1, 0, 1) * jnp.clip((0.75 - jnp.abs(x)) / 0.1, 0, 1)
             * (1 - lip[..., 0]) * jnp.clip((y + 1.35) / 0.1, 0, 1) * front)
    dots = jnp.clip(_hash_noise(p, 400.0), 0.0, 1.0)
    sb = (params["stubble"] * beard * (0.35 + 0.45 * dots))[..., None]
    col = col * (1 - sb) + params["hair"] * sb
    return col, hmask


def eye_albedo(eye_dir, params: dict):
    """Albedo of eyeball pixels from the interpolated rest direction (unit-ish vector, +Z = gaze)."""
    d = eye_dir / jnp.maximum(jnp.linalg.norm(eye_dir, axis=-1, keepdims=True), 1e-6)
    c = d[..., 2]  # cos of the angle from the gaze axis
    ang = jnp.arccos(jnp.clip(c, -1, 1))
    sclera = jnp.array([0.75, 0.70, 0.66])
    # Vessels / shading toward the corners.
    sclera = sclera * (0.85 + 0.15 * c[..., None])
    iris_r, pupil_r = 0.43, 0.16  # radians on the eyeball: ~5.5 mm iris, ~2 mm pupil
    theta = jnp.arctan2(d[..., 1], d[..., 0])
    striation = 0.8 + 0.2 * jnp.sin(theta * 37.0) * jnp.sin(theta * 13.0 + 1.0)
    iris = params["iris"] * striation[..., None] * (0.7 + 0.6 * (ang / iris_r))[..., None]
    limbal = jnp.clip((ang - (iris_r - 0.07)) / 0.07, 0, 1)[..., None]
    iris = iris * (1 - 0.6 * limbal)
    in_iris = jnp.clip((iris_r - ang) / 0.03, 0, 1)[..., None]
    in_pupil = jnp.clip((pupil_r - ang) / 0.03, 0, 1)[..., None]
    col = sclera * (1 - in_iris) + iris * in_iris
    return col * (1 - in_pupil) + 0.01 * in_pupil


TEETH = np.array([0.70, 0.66, 0.55], np.float32)
TONGUE = np.array([0.50, 0.16, 0.17], np.float32)
MOUTH_CAVITY = np.array([0.10, 0.02, 0.025], np.float32)
EYE_CAVITY = np.array([0.45, 0.20, 0.20], np.float32)
