"""Rotations (Euler angles), orthographic and weak-perspective projection.

Euler convention (radians): ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, active rotations about the
*fixed* x, y, z axes of the frame the points live in (applied pitch first, then yaw, then roll), with
the right-hand rule for positive angles: positive pitch rotates +y towards +z, positive yaw rotates
+z towards +x and positive roll rotates +x towards +y. In a y-up head frame with z towards the camera,
positive pitch turns the face up, positive yaw turns it towards +x, positive roll tilts +x upwards.

PRNet (``utils/estimate_pose.py::matrix2angle``) reports ``(asin(R[2,0]), atan2(R[2,1], R[2,2]),
atan2(R[1,0], R[0,0]))`` labelled (yaw, pitch, roll); for our ``R`` these equal
``(-yaw, pitch, roll)`` -- :func:`prnet_pose_angles` reproduces PRNet's numbers exactly.
"""

from __future__ import annotations

import jax.numpy as jnp


def _stack_matrix(rows):
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def euler_to_rotation(pitch, yaw, roll):
    """Rotation matrices ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``; angles broadcast, result ``[..., 3, 3]``."""
    pitch, yaw, roll = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.float32) for a in (pitch, yaw, roll)))
    cx, sx = jnp.cos(pitch), jnp.sin(pitch)
    cy, sy = jnp.cos(yaw), jnp.sin(yaw)
    cz, sz = jnp.cos(roll), jnp.sin(roll)
    return _stack_matrix([
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ])


def rotation_to_euler(rotation):
    """Inverse of :func:`euler_to_rotation`: ``(pitch, yaw, roll)``, yaw in [-pi/2, pi/2].

    At gimbal lock (|yaw| = pi/2) roll is set to 0 and pitch absorbs the remaining rotation.
    """
    r = jnp.asarray(rotation)
    sy = jnp.clip(-r[..., 2, 0], -1.0, 1.0)
    yaw = jnp.arcsin(sy)
    cy = jnp.sqrt(r[..., 2, 1] ** 2 + r[..., 2, 2] ** 2)
    locked = cy < 1e-6
    pitch = jnp.where(locked, jnp.arctan2(-r[..., 1, 2], r[..., 1, 1]),
                      jnp.arctan2(r[..., 2, 1], r[..., 2, 2]))
    roll = jnp.where(locked, 0.0, jnp.arctan2(r[..., 1, 0], r[..., 0, 0]))
    return pitch, yaw, roll


def prnet_pose_angles(rotation):
    """PRNet's ``matrix2angle`` outputs (labelled yaw, pitch, roll there) = ``(-yaw, pitch, roll)``."""
    r = jnp.asarray(rotation)
    return (jnp.arcsin(jnp.clip(r[..., 2, 0], -1.0, 1.0)), jnp.arctan2(r[..., 2, 1], r[..., 2, 2]),
            jnp.arctan2(r[..., 1, 0], r[..., 0, 0]))


def weak_perspective(points, scale, rotation, translation):
    """Weak-perspective (scaled orthographic) camera: ``scale * R @ p + [tx, ty, 0]``.

    Args:
      points: ``[..., N, 3]``.
      scale: scalar or ``[...]``.
      rotation: ``[3, 3]`` or ``[..., 3, 3]``.
      translation: ``[2]`` or ``[..., 2]`` image-plane offset (z is left unshifted; only its order
        matters to the rasterizer).

    Returns:
      ``[..., N, 3]``: x, y in the target frame and the scaled depth z (larger = nearer when the
      frame's z points at the camera).
    """
    points = jnp.asarray(points)
    scale = jnp.asarray(scale, points.dtype)[..., None, None]
    rotated = jnp.einsum("...ij,...nj->...ni", jnp.asarray(rotation, points.dtype), points)
    t = jnp.asarray(translation, points.dtype)
    t3 = jnp.concatenate([t, jnp.zeros(t.shape[:-1] + (1,), points.dtype)], axis=-1)
    return scale * rotated + t3[..., None, :]


def orthographic(points, rotation=None, translation=None):
    """Orthographic camera: :func:`weak_perspective` with scale 1 (identity rotation by default)."""
    points = jnp.asarray(points)
    rotation = jnp.eye(3, dtype=points.dtype) if rotation is None else rotation
    translation = jnp.zeros((2,), points.dtype) if translation is None else translation
    return weak_perspective(points, 1.0, rotation, translation)


def y_up_to_image(points, height):
    """Maps a y-up frame (x right, y up, z towards the viewer) to rasterizer image space.

    ``(x, y, z) -> (x, height - y, z)``: y is mirrored about the image's horizontal mid-line so a
    point at y = 0 lands on the bottom edge of the image; larger z stays nearer.
    """
    points = jnp.asarray(points)
    return jnp.stack([points[..., 0], height - points[..., 1], points[..., 2]], axis=-1)
