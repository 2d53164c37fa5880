"""Exact registration of SynthFACS frames: the true mesh where the network's would go.

A SynthFACS frame is a render request (identity, AU intensities, camera), so its face mesh in the
image is known exactly; :class:`ExactRegistrar` returns it as a
:class:`jaxau.align.registrar.Registration`, the same record the network's registrar gives, with
the pose fitted by the same similarity (`jaxau.align.registrar.fit_pose`). An alignment run with it
(``config.align.registration = 'exact'``) is the registration method without the network's mesh
error: the difference between a ``real:3d`` column registered exactly and one registered by the
network is the network's, and what remains between exact 3-D and exact 2-D is the method's.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxau import batching
from jaxau.align import canonical, registrar as register
from jaxau.au import SPLITS
from jaxau.face import synth

REGISTRATIONS = ("network", "exact")


@functools.lru_cache(maxsize=2)
def _jitted():
    import jax
    import jax.numpy as jnp

    from jaxau.face import render

    fm, _ = synth._pipeline()

    @jax.jit
    def image_vertices(identity, intensity, rotation, scale, translation):
        return render.to_image(fm.vertices(identity, intensity), rotation, scale, translation)

    @jax.jit
    def fit(verts):
        """Scale, rotation, translation, fit error and pose (degrees), flat: ``[B, 17]``."""
        s, r, t, err = jax.vmap(register.fit_pose)(verts)
        yaw, pitch, roll = register.head_angles(r)
        pose = jnp.rad2deg(jnp.stack([yaw, pitch, roll], -1))
        return jnp.concatenate([s[:, None], r.reshape(-1, 9), t, err[:, None], pose], -1)

    return image_vertices, fit


class ExactRegistrar:
    """Registrar of a SynthFACS dataset's frames from their render requests (no network).

    Args:
      synth_config: the dataset's :class:`jaxau.face.synth.SynthConfig`.
      batch_size: frames per compiled call (as :class:`jaxau.align.registrar.Registrar`'s).
    """

    def __init__(self, synth_config, batch_size: int = 16):
        self.config = synth_config
        self.batch_size = int(batch_size)
        self._requests: dict | None = None

    def requests(self) -> dict:
        """``{(sequence, frame): request}`` over every split (sequence names are unique across splits)."""
        if self._requests is None:
            out = {}
            for split in SPLITS:
                for idx in range(self.config.subjects.get(split, 0)):
                    for fr in synth.subject_frames(self.config, split, idx):
                        out[(fr["sequence"], int(fr["frame"]))] = fr
            self._requests = out
        return self._requests

    def vertices(self, sequences, frames) -> np.ndarray:
        """True image-space asset vertices ``[N, V, 3]`` of frames named by sequence and frame."""
        table = self.requests()
        keys = [(str(s), int(f)) for s, f in zip(sequences, frames)]
        unknown = [k for k in keys if k not in table]
        if unknown:
            raise ValueError(f"exact registration: {len(unknown)} frames are not frames of SynthFACS "
                             f"{self.config.name!r} (e.g. {unknown[0]}): exact registration needs the dataset's "
                             "own frames; use config.align.registration='network' for other images.")
        image_vertices, _ = _jitted()
        reqs = [table[k] for k in keys]

        def one_batch(rows):
            batch = [reqs[i] for i in rows]
            scene = {k: np.stack([r["scene"][k] for r in batch]).astype(np.float32)
                     for k in ("rotation", "scale", "translation")}
            return image_vertices(np.stack([r["subject"].identity for r in batch]).astype(np.float32),
                                  np.stack([r["intensity"] for r in batch]).astype(np.float32),
                                  scene["rotation"], scene["scale"], scene["translation"])

        return np.concatenate(batching.map_padded(one_batch, np.arange(len(reqs)), self.batch_size))

    def register(self, batch: dict, boxes=None) -> register.Registration:
        """The :class:`jaxau.align.registrar.Registration` of a batch of frames: from its
        ``vertices`` (true image-space asset vertices ``[N, V, 3]``, as SynthFACS renders return
        them) when present, else from the render requests of its ``sequence`` / ``frame``. Face
        boxes (the network registrar's crop) play no part."""
        n = len(batch["image"])
        if n == 0:
            raise ValueError("exact registration: no frames.")
        if "vertices" in batch:
            asset_v = np.asarray(batch["vertices"], np.float32)
        else:
            asset_v = self.vertices(batch["sequence"], batch["frame"])
        if len(asset_v) != n:
            raise ValueError(f"exact registration: {n} images but {len(asset_v)} meshes.")
        m = canonical.registration_mesh()
        verts = m.from_asset(asset_v)
        _, fit = _jitted()
        # Padding rows (zero meshes) fit to NaN and are dropped by map_padded.
        flat = np.concatenate(batching.map_padded(fit, verts, self.batch_size))
        s, r, t, err, pose = (flat[:, 0], flat[:, 1:10].reshape(-1, 3, 3), flat[:, 10:13], flat[:, 13],
                              flat[:, 14:17])
        # No crop: the identity affine in the field where the network's registrar records its crop.
        crop = np.repeat(np.eye(2, 3, dtype=np.float32)[None], n, 0)
        return register.Registration(vertices=verts, landmarks=verts[:, m.landmarks], scale=s, rotation=r,
                                     translation=t, pose=pose, fit_error=err, crop=crop)
