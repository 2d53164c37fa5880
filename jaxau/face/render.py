"""Rendering SynthFACS frames with ``jaxau.geometry.rasterize`` (batched, jit-compiled).

Camera: weak perspective. Head coordinates (decimetres, Y up, face toward +Z) are rotated by
``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (see :func:`rotation_matrix` for the signs), scaled by ``scale`` pixels per decimetre and translated, giving
image-space vertices (x right, y down, pixels; z = scale * Z, larger nearer) as the rasterizer expects.

Shading: Lambertian (hemispherical ambient + one directional light) plus a Blinn-Phong sheen, with
screen-space bump mapping of the AU height field (:mod:`jaxau.face.appearance`), procedural albedo
(:mod:`jaxau.face.albedo`), flat two-sided teeth, a dark mouth interior and a cornea highlight;
supersampled ``ss x ss`` and box-filtered.

Cavity poke-through: the mouth/eye socket lining can pierce the skin for some identity + expression
combinations; its vertices (those not shared with outer skin) are pushed back 8 mm in depth before the
z-test, which only changes the visibility order, never the drawn position.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import geometry
from jaxau.face import albedo, appearance, au_mapping
from jaxau.face.asset import (PART_EYE_L, PART_EYE_R, PART_SKIN, PART_TEETH_LOW, PART_TEETH_UP,
                              PART_TONGUE, FaceAsset)

CAVITY_DEPTH_BIAS = 0.08  # decimetres
# Squinting lids (AU06/AU07) sink into the low-poly eyeballs; eyes lose such depth ties by 1.5 mm.
EYE_DEPTH_BIAS = 0.015
BUMP_STRENGTH = 1.0


def rotation_matrix(yaw, pitch, roll=0.0, xp=jnp):
    """``Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (radians) in head coordinates (Y up, +Z toward camera).

    Positive yaw turns the face toward +X (the subject's left, which appears on the image right);
    positive pitch tilts the face down (the nose tip moves to -Y, image down). ``xp`` is
    ``jax.numpy`` (traceable) or ``numpy`` (cheap for per-frame camera set-up outside jit).
    """
    cy, sy = xp.cos(yaw), xp.sin(yaw)
    cp, sp = xp.cos(pitch), xp.sin(pitch)
    cr, sr = xp.cos(roll), xp.sin(roll)
    one, zero = xp.ones_like(cy), xp.zeros_like(cy)
    ry = xp.stack([xp.stack([cy, zero, sy]), xp.stack([zero, one, zero]), xp.stack([-sy, zero, cy])])
    rx = xp.stack([xp.stack([one, zero, zero]), xp.stack([zero, cp, -sp]), xp.stack([zero, sp, cp])])
    rz = xp.stack([xp.stack([cr, -sr, zero]), xp.stack([sr, cr, zero]), xp.stack([zero, zero, one])])
    return ry @ rx @ rz


def to_image(vertices, rotation, scale, translation):
    """Head-space ``[...,V,3]`` -> image-space (x right, y down, pixels; z larger nearer)."""
    r = vertices @ jnp.swapaxes(rotation, -1, -2)
    s = scale[..., None]
    return jnp.stack([s * r[..., 0] + translation[..., None, 0],
                      -s * r[..., 1] + translation[..., None, 1],
                      s * r[..., 2]], -1)


def _one_ring_mask(tris, seeds, nv):
    m = np.zeros(nv, np.float32)
    m[seeds] = 1.0
    ring = np.zeros(nv, bool)
    hit = m[tris].max(1) > 0
    ring[np.unique(tris[hit])] = True
    return np.maximum(m, 0.45 * ring)


class Renderer:
    """Static per-asset data for rendering, plus the jitted batch renderer.

    Args:
      asset: the head asset.
      aus: the AU order of the ``au_intensity`` passed to :meth:`render` (for the appearance cues).
    """

    def __init__(self, asset: FaceAsset, aus=au_mapping.SIMULATED_AUS):
        self.asset = asset
        self.aus = tuple(aus)
        a = asset
        nv = a.num_vertices
        tris = a.triangles
        skin_t = a.triangle_part == PART_SKIN
        cav_t = skin_t & a.triangle_cavity
        outer = np.zeros(nv, bool)
        outer[np.unique(tris[skin_t & ~a.triangle_cavity])] = True
        cav_v = np.zeros(nv, bool)
        cav_v[np.unique(tris[cav_t])] = True
        self.depth_bias = jnp.asarray(
            (cav_v & ~outer) * CAVITY_DEPTH_BIAS
            + ((a.vertex_part == PART_EYE_L) | (a.vertex_part == PART_EYE_R)) * EYE_DEPTH_BIAS,
            jnp.float32)
        # Lid margin (skin/eye-socket boundary) and its one ring: eyelash darkening.
        eye_cav = cav_t & (a.vertices[tris].mean(1)[:, 1] > -0.3)
        margin = np.intersect1d(np.unique(tris[eye_cav]), np.unique(tris[skin_t & ~a.triangle_cavity]))
        lid_margin = _one_ring_mask(tris[skin_t & ~a.triangle_cavity], margin, nv)
        vp = a.vertex_part
        # Per-vertex kind for shading: 0 skin, 1 eye, 2 teeth, 3 tongue, 4 mouth cavity, 5 eye cavity.
        kind = np.zeros((nv, 6), np.float32)
        kind[vp == PART_SKIN, 0] = 1
        kind[(vp == PART_EYE_L) | (vp == PART_EYE_R), 1] = 1
        kind[(vp == PART_TEETH_UP) | (vp == PART_TEETH_LOW), 2] = 1
        kind[vp == PART_TONGUE, 3] = 1
        mouth_cav = cav_v & ~outer & (a.vertices[:, 1] < -0.3)
        eye_cavv = cav_v & ~outer & (a.vertices[:, 1] >= -0.3)
        kind[mouth_cav] = [0, 0, 0, 0, 1, 0]
        kind[eye_cavv] = [0, 0, 0, 0, 0, 1]
        self.static_attr = jnp.asarray(np.concatenate([
            a.vertices, a.eye_dirs, kind,
            np.stack([a.masks["lips"], a.masks["eyelids"], lid_margin, a.masks["ears"]], 1)], 1))
        self.triangles = jnp.asarray(tris)
        self.landmarks = jnp.asarray(a.landmarks)
        self.eye_center = np.asarray(a.eye_centers[0])
        self.pm_triangles = jnp.asarray(a.position_map_triangles)
        self.uv = jnp.asarray(a.uv)
        # Template depth orders the UV-space z-test: the outermost surface wins where the
        # cylinder projection folds (under the nose, around the nostrils).
        self.uv_depth = jnp.asarray(a.vertices[:, 2])
        self.au_index = {n: i for i, n in enumerate(self.aus)}

    # ------------------------------------------------------------------------------------------
    def _shade(self, verts_img, verts_head, rotation, scene, au_intensity, height, width, ss):
        a_attr = self.static_attr
        zb = verts_img[:, 2] - self.depth_bias * scene["scale"]
        v_ss = jnp.stack([verts_img[:, 0] * ss, verts_img[:, 1] * ss, zb], -1)
        frags = geometry.rasterize(v_ss, self.triangles, height * ss, width * ss)
        n_head = geometry.vertex_normals(verts_head, self.triangles)
        n_view = n_head @ rotation.T
        attr = geometry.interpolate(jnp.concatenate([a_attr, n_view], 1), self.triangles, frags)
        p, eye_dir, kind = attr[..., 0:3], attr[..., 3:6], attr[..., 6:12]
        m = attr[..., 12:16]
        n = attr[..., 16:19]
        masks = {"lips": m[..., 0], "eyelids": m[..., 1], "lid_margin": m[..., 2], "ears": m[..., 3]}
        params = scene["albedo"]
        resp = au_mapping.response(au_intensity)
        responses = {name: resp[i] for name, i in self.au_index.items()}
        strengths = appearance.cue_strengths(responses, params["age"])
        skin_w = kind[..., 0]
        front = skin_w * (p[..., 2] > -0.3)
        h, groove = appearance.height_field(p, strengths, params["age"], front)
        # Screen-space bump: slope of h per pixel (dm/px) * pixels per dm.
        s = scene["scale"] * ss
        dhdx = (jnp.roll(h, -1, 1) - jnp.roll(h, 1, 1)) * 0.5 * s
        dhdy = (jnp.roll(h, -1, 0) - jnp.roll(h, 1, 0)) * 0.5 * s
        valid = frags.mask & jnp.roll(frags.mask, 1, 0) & jnp.roll(frags.mask, -1, 0) & \
            jnp.roll(frags.mask, 1, 1) & jnp.roll(frags.mask, -1, 1)
        bump = jnp.stack([-dhdx, dhdy, jnp.zeros_like(h)], -1) * BUMP_STRENGTH * valid[..., None]
        n = n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
        n = n + bump
        n = n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), 1e-6)

        skin_col, hair_mask = albedo.skin_albedo(p, masks, params, self.eye_center)
        skin_col = skin_col * (1.0 - 0.35 * groove[..., None])
        # Under-chin / neck occlusion.
        neck = jnp.clip((-1.05 - p[..., 1]) / 0.25, 0, 1) * (p[..., 2] > -0.6)
        skin_col = skin_col * (1.0 - 0.35 * neck[..., None])
        eye_col = albedo.eye_albedo(eye_dir, params)
        col = (skin_col * kind[..., 0:1] + eye_col * kind[..., 1:2] + albedo.TEETH * kind[..., 2:3]
               + albedo.TONGUE * kind[..., 3:4] + albedo.MOUTH_CAVITY * kind[..., 4:5]
               + albedo.EYE_CAVITY * kind[..., 5:6])
        l = scene["light_dir"] / jnp.linalg.norm(scene["light_dir"])
        ndl = jnp.sum(n * l, -1)
        # Teeth are thin plates: shade them flat and two-sided; cavities get little direct light.
        flat = kind[..., 2] + kind[..., 3]
        cav = kind[..., 4] + kind[..., 5]
        diffuse = jnp.where(flat > 0.5, 0.55 + 0.2 * jnp.abs(ndl), jnp.maximum(ndl, 0.0))
        diffuse = diffuse * (1.0 - 0.8 * cav)
        hemi = 0.75 + 0.25 * n[..., 1]
        light = scene["ambient"] * hemi[..., None] + scene["light_color"] * diffuse[..., None]
        hvec = l + jnp.array([0.0, 0.0, 1.0])
        hvec = hvec / jnp.linalg.norm(hvec)
        ndh = jnp.maximum(jnp.sum(n * hvec, -1), 0.0)
        spec_skin = scene["specular"] * ndh ** 24 * (1 - hair_mask) * (1 - 0.5 * groove)
        spec_eye = 0.6 * ndh ** 120
        spec = (spec_skin * kind[..., 0] + spec_eye * kind[..., 1]) * (ndl > 0)
        color = col * light + spec[..., None] * scene["light_color"]
        # Background: vertical gradient with a soft vignette.
        yy = (jnp.arange(height * ss) + 0.5) / (height * ss)
        xx = (jnp.arange(width * ss) + 0.5) / (width * ss)
        bg = scene["bg_top"] * (1 - yy)[:, None, None] + scene["bg_bottom"] * yy[:, None, None]
        vig = 1.0 - 0.3 * ((xx[None, :] - 0.5) ** 2 + (yy[:, None] - 0.5) ** 2)
        bg = bg * vig[..., None]
        color = jnp.where(frags.mask[..., None], color, bg)
        color = geometry.box_downsample(color, ss) if ss > 1 else color
        mask = frags.mask.astype(jnp.float32)[..., None]
        mask = geometry.box_downsample(mask, ss)[..., 0] if ss > 1 else mask[..., 0]
        srgb = jnp.clip(color, 0.0, 1.0) ** (1 / 2.2)
        return jnp.round(srgb * 255.0).astype(jnp.uint8), mask, frags

    def _position_map(self, verts_img, size):
        uvz = jnp.stack([self.uv[:, 0] * size, self.uv[:, 1] * size, self.uv_depth], -1)
        frags = geometry.rasterize(uvz, self.pm_triangles, size, size)
        return geometry.interpolate(verts_img, self.pm_triangles, frags)

    @functools.partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
    def render(self, verts_head, au_intensity, scene, height, width, ss=1, uv_size=0):
        """Renders a batch of frames.

        Args:
          verts_head: ``[B,V,3]`` head-space vertices (identity + expression).
          au_intensity: ``[B,K]`` continuous intensities in :attr:`aus` order (drives wrinkles).
          scene: dict of ``[B,...]`` arrays: rotation [3,3], scale, translation [2], ambient [3],
            light_dir [3], light_color [3], specular, bg_top [3], bg_bottom [3], albedo (dict of
            :class:`albedo.AlbedoParams` arrays).
          height, width: output size (static).
          ss: supersampling factor per axis (static).
          uv_size: position-map size; 0 for none (static).

        Returns:
          dict with ``image`` uint8 [B,H,W,3], ``mask`` float [B,H,W] (head coverage),
          ``vertices`` [B,V,3] image space, ``landmarks_3d`` [B,68,3], ``landmarks_2d`` [B,68,2],
          and ``uv_position_map`` [B,S,S,3] when ``uv_size``.
        """

        def one(vh, au, sc):
            vi = to_image(vh, sc["rotation"], sc["scale"], sc["translation"])
            img, mask, _ = self._shade(vi, vh, sc["rotation"], sc, au, height, width, ss)
            out = {"image": img, "mask": mask, "vertices": vi,
                   "landmarks_3d": vi[self.landmarks], "landmarks_2d": vi[self.landmarks, :2]}
            if uv_size:
                out["uv_position_map"] = self._position_map(vi, uv_size)
            return out

        return jax.vmap(one)(verts_head, au_intensity, scene)

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other
