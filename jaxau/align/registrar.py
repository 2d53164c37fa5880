"""Registration inference: image + face box -> similarity crop -> UV position map -> dense mesh,
68 landmarks and head pose, jit-compiled and batched.

Head pose is the least-squares similarity (Umeyama) from the canonical template
(:mod:`jaxau.align.canonical`, image convention) to the predicted face vertices. Its rotation
``R = F Rh F`` gives the head rotation ``Rh = Ry(yaw) Rx(pitch) Rz(roll)`` in SynthFACS's convention
(:func:`jaxau.face.render.rotation_matrix`), so yaw / pitch are directly comparable with the
dataset's pose labels.

Quality: ``fit_error`` is the RMS residual of that fit over the face vertices divided by the fitted
face size (the scale times the template's landmark-box size); a garbage position map is far from any
similarity transform of a face, so the register stages flag frames above a threshold as failures.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxau.align import canonical, crop as crop_lib
from jaxau.face.render import rotation_matrix
from jaxau.geometry.procrustes import umeyama
from jaxau.geometry.uv import sample_position_map

FLIP = jnp.asarray(canonical.FLIP_Y)


def head_angles(rotation):
    """``(yaw, pitch, roll)`` radians of image-convention rotations ``[..., 3, 3]`` (``R = F Rh F``)."""
    rh = FLIP @ rotation @ FLIP
    pitch = jnp.arcsin(jnp.clip(-rh[..., 1, 2], -1.0, 1.0))
    yaw = jnp.arctan2(rh[..., 0, 2], rh[..., 2, 2])
    roll = jnp.arctan2(rh[..., 1, 0], rh[..., 1, 1])
    return yaw, pitch, roll


def pose_rotation(yaw, pitch, roll=0.0):
    """Image-convention rotation ``F Rh F`` for head angles in radians (inverse of `head_angles`)."""
    return FLIP @ rotation_matrix(jnp.asarray(yaw, jnp.float32), jnp.asarray(pitch, jnp.float32),
                                  jnp.asarray(roll, jnp.float32)) @ FLIP


@functools.lru_cache(maxsize=1)
def template_size() -> float:
    """Size of the template's 68-landmark box (canonical units): the unit of fit errors and tolerances."""
    m = canonical.registration_mesh()
    return float(crop_lib.box_size(crop_lib.landmark_box(m.canonical[m.landmarks])))


def fit_pose(vertices):
    """Similarity from the canonical template to image-space registration vertices ``[Vm, 3]``.

    Returns:
      ``(scale, rotation [3, 3], translation [3], fit_error)``.
    """
    m = canonical.registration_mesh()
    canon = jnp.asarray(m.canonical)
    w = jnp.asarray(m.fit_weights)
    s, r, t = umeyama(canon, vertices, w)
    res = vertices - (s * canon @ r.T + t)
    rms = jnp.sqrt(jnp.sum(w * jnp.sum(res ** 2, -1)) / jnp.sum(w))
    return s, r, t, rms / (s * template_size())


def decode(position_maps, mats, max_pos: float):
    """Normalised crop-space position maps -> image-space registration vertices ``[B, Vm, 3]``."""
    m = canonical.registration_mesh()
    size = position_maps.shape[1]
    flat = position_maps.reshape(position_maps.shape[0], size * size, 3)
    filled = flat[:, jnp.asarray(canonical.fill_index(size))].reshape(position_maps.shape)
    verts = sample_position_map(filled * max_pos, jnp.asarray(m.uv))
    verts = verts.at[..., 2].add(-size / 2.0)
    return crop_lib.apply(crop_lib.invert(mats), verts)


def crop_target(pos_map, m, size: int):
    """Image-space position map -> crop-space target in crop pixels (0 outside the face).

    z is scaled with the crop and re-centred: ``z' = s * (z - mean_face_z) + size / 2``.
    """
    mask = jnp.asarray(canonical.uv_raster(size)[2], jnp.float32)[..., None]
    xy = jnp.einsum("ij,hwj->hwi", m[:, :2], pos_map[..., :2]) + m[:, 2]
    s = crop_lib.matrix_scale(m)
    zmean = jnp.sum(pos_map[..., 2:] * mask) / jnp.sum(mask)
    z = s * (pos_map[..., 2:] - zmean) + size / 2.0
    return jnp.concatenate([xy, z], -1) * mask


@dataclasses.dataclass
class Registration:
    """Batched registration results (numpy)."""

    vertices: np.ndarray     # [B, Vm, 3] image space (x, y pixels; z pixels, larger nearer, up to offset)
    landmarks: np.ndarray    # [B, 68, 3]
    scale: np.ndarray        # [B]
    rotation: np.ndarray     # [B, 3, 3] image convention
    translation: np.ndarray  # [B, 3]
    pose: np.ndarray         # [B, 3] yaw, pitch, roll in degrees (SynthFACS convention)
    fit_error: np.ndarray    # [B]
    crop: np.ndarray         # [B, 2, 3] crop matrices used


class Registrar:
    """A trained registration network, applied to batches of frames with face boxes.

    `jaxau.train.prnet.load_registrar` builds one from a trained run directory.

    Args:
      model: the :class:`jaxau.models.prnet.PRNet`.
      variables: its ``params`` and ``batch_stats``.
      settings: the run's registration settings (``image_size``, ``crop_scale``, ``crop_shift``,
        ``mean_map``).
      batch_size: frames per compiled call (inputs are padded to it: one compilation per frame size).
    """

    def __init__(self, model, variables, settings, batch_size: int = 16):
        self.model, self.variables = model, variables
        self.size = int(settings["image_size"])
        self.crop_scale = float(settings["crop_scale"])
        self.crop_shift = float(settings["crop_shift"])
        self.batch_size = int(batch_size)
        mean = settings.get("mean_map")
        # Output = network + (mean map - 0.5): see jaxau.train.prnet (zero for absolute maps).
        self.offset = (np.zeros((self.size, self.size, 3), np.float32) if mean is None
                       else np.asarray(mean, np.float32) - 0.5)
        canonical.fill_index(self.size)  # build the constant UV raster outside any trace
        self._fn = jax.jit(self._apply)

    def _apply(self, variables, images, mats):
        crops = jax.vmap(lambda im, mm: crop_lib.warp_affine(im, mm, self.size))(images, mats) / 255.0
        maps = self.model.apply(variables, crops, train=False) + self.offset
        verts = decode(maps, mats, self.model.max_pos)
        s, r, t, err = jax.vmap(fit_pose)(verts)
        yaw, pitch, roll = head_angles(r)
        return verts, s, r, t, err, jnp.rad2deg(jnp.stack([yaw, pitch, roll], -1))

    def register(self, batch: dict, boxes: np.ndarray) -> Registration:
        """The registration of a batch of frames (``image``) with landmark-convention boxes: the
        interface the aligner uses, shared with :class:`jaxau.align.exact.ExactRegistrar`."""
        return self(batch["image"], boxes)

    def __call__(self, images: np.ndarray, boxes: np.ndarray) -> Registration:
        """Registers uint8 frames ``[N, H, W, 3]`` with landmark-convention boxes ``[N, 4]``."""
        images = np.asarray(images)
        boxes = np.asarray(boxes, np.float32)
        if images.ndim != 4 or images.shape[-1] != 3 or len(boxes) != len(images) or boxes.shape[-1:] != (4,):
            raise ValueError(f"Registrar: images must be [N, H, W, 3] and boxes [N, 4], got {images.shape} "
                             f"and {boxes.shape}.")
        mats_all = crop_lib.box_crop_matrix(boxes, self.size, self.crop_scale, self.crop_shift)
        outs = []
        bs = self.batch_size
        for lo in range(0, len(images), bs):
            im, mm = images[lo:lo + bs], mats_all[lo:lo + bs]
            pad = bs - len(im)
            if pad:
                im = np.concatenate([im, np.zeros((pad,) + im.shape[1:], im.dtype)])
                mm = np.concatenate([mm, np.repeat(mats_all[:1], pad, 0)])
            res = jax.device_get(self._fn(self.variables, im, mm))
            outs.append([np.asarray(x)[:bs - pad] for x in res])
        verts, s, r, t, err, pose = (np.concatenate(x) for x in zip(*outs))
        m = canonical.registration_mesh()
        return Registration(vertices=verts, landmarks=verts[:, m.landmarks], scale=s, rotation=r,
                            translation=t, pose=pose, fit_error=err, crop=mats_all)
