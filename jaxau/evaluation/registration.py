"""Registration accuracy: landmark and dense-vertex NME of a registrar, of the mean-shape baseline and
of the position-map oracle.

NME is 2-D, normalised by the ground-truth landmark box's ``sqrt(w * h)`` (AFLW2000-3D's convention),
reported overall and per pose.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxau.align import canonical, crop as crop_lib, registrar as register
from jaxau.align.registrar import crop_target


def nme(pred_xy: np.ndarray, true_xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per-frame NME: mean point distance / ``sqrt(w * h)`` of the ground-truth landmark box."""
    d = np.linalg.norm(np.asarray(pred_xy)[..., :2] - np.asarray(true_xy)[..., :2], axis=-1).mean(-1)
    return d / crop_lib.box_size(boxes)


@dataclasses.dataclass
class Evaluation:
    """Per-frame NMEs of the network, the mean-shape baseline and the map representation's floor."""

    landmark_nme: np.ndarray
    dense_nme: np.ndarray
    baseline_landmark_nme: np.ndarray
    baseline_dense_nme: np.ndarray
    oracle_landmark_nme: np.ndarray
    oracle_dense_nme: np.ndarray
    pose_id: np.ndarray

    def summary(self) -> dict:
        out = {"num_frames": int(self.pose_id.size)}
        for f in dataclasses.fields(self):
            if f.name == "pose_id":
                continue
            v = getattr(self, f.name)
            out[f.name] = float(v.mean())
            out[f"{f.name}_by_pose"] = {str(int(p)): float(v[self.pose_id == p].mean())
                                        for p in np.unique(self.pose_id)}
        return out


def evaluate(registrar, data: Mapping[str, np.ndarray]) -> Evaluation:
    """NME on ``data`` (:func:`jaxau.train.prnet.prepare` arrays) of a
    :class:`jaxau.align.registrar.Registrar`, of the mean-shape baseline and of the oracle.

    The baseline predicts the training set's mean target map (the registrar's ``offset + 0.5``) for
    every frame; the oracle decodes each frame's exact target map. All three go through the same
    crop and map decoding, so baseline vs network measures what the network learned, and the oracle
    shows the floor set by the UV layout at this map size (vertices hidden where the cylindrical
    projection folds, e.g. under the nose, cannot be read back from any map).
    """
    m = canonical.registration_mesh()
    size = registrar.size
    res = registrar(data["image"], data["box"])
    mats = crop_lib.box_crop_matrix(data["box"], size, registrar.crop_scale, registrar.crop_shift)
    max_pos = 1.1 * size
    mean_map = jnp.asarray(registrar.offset + 0.5)

    @jax.jit
    def decode_both(pos_maps, mm):
        oracle = jax.vmap(lambda p, x: crop_target(p, x, size))(pos_maps, mm) / max_pos
        base = jnp.broadcast_to(mean_map, oracle.shape)
        return register.decode(base, mm, max_pos), register.decode(oracle, mm, max_pos)

    base, oracle = [], []
    for lo in range(0, len(mats), 32):
        b, o = decode_both(data["pos_map"][lo:lo + 32], mats[lo:lo + 32])
        base.append(np.asarray(b))
        oracle.append(np.asarray(o))
    base, oracle = np.concatenate(base), np.concatenate(oracle)
    true = data["vertices"]
    lm = m.landmarks

    def both(pred):
        return nme(pred[:, lm], true[:, lm], data["box"]), nme(pred, true, data["box"])

    (l, d), (bl, bd), (ol, od) = both(res.vertices), both(base), both(oracle)
    return Evaluation(landmark_nme=l, dense_nme=d, baseline_landmark_nme=bl, baseline_dense_nme=bd,
                      oracle_landmark_nme=ol, oracle_dense_nme=od,
                      pose_id=np.asarray(data.get("pose_id", np.zeros(len(true), np.int32))))
