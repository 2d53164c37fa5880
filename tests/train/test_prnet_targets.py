"""The registration step's target follows its jittered crop: image and target share one similarity.

A probe stands in for the network: its "prediction" is a parameter, so one SGD step of the real
training step hands back the target (the loss gradient), and it records the crop images it is shown.
The crop matrix of each example is then recovered from the target alone (an exact least-squares
affine fit of the target's x, y to the full-image position map) and must warp the full frame into the
very crop the network saw.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxau.align import canonical, crop as crop_lib
from jaxau.train import parallel
from jaxau.train import prnet as reg_train
from jaxau.train.state import TrainState

S, FULL, N = 64, 128, 4


class Probe:
    """Network stand-in: returns its ``pred`` parameter, records its input crops."""

    max_pos = 1.1 * S

    def __init__(self):
        self.seen = []

    def apply(self, variables, images, train, mutable):
        del train, mutable
        jax.debug.callback(lambda x: self.seen.append(np.asarray(x)), images)
        return variables["params"]["pred"], {"batch_stats": variables["batch_stats"]}


_warp = jax.jit(lambda image, m: crop_lib.warp_affine(image, m, S))


def _batch():
    """Random textured frames, a face box and a position map with distinct full-image points."""
    rng = np.random.default_rng(0)
    mask = canonical.uv_raster(S)[2]
    pos = np.zeros((N, S, S, 3), np.float32)
    pos[:, mask] = np.concatenate([rng.uniform(28, 100, (N, mask.sum(), 2)),
                                   rng.uniform(-20, 20, (N, mask.sum(), 1))], -1)
    return {"image": rng.integers(0, 256, (N, FULL, FULL, 3)).astype(np.uint8),
            "box": np.tile(np.float32([36, 32, 92, 96]), (N, 1)), "pos_map": pos}


@pytest.fixture(scope="module")
def probed():
    cfg = reg_train.settings(dict(image_size=S, color_jitter=0.0, jitter_shift=0.1,
                                  jitter_scale=(0.85, 1.15), rotation_deg=15.0))
    probe, tx = Probe(), optax.sgd(1.0)
    params = {"pred": jnp.zeros((N, S, S, 3))}
    state = TrainState.create(params, tx, {"batch_stats": {"m": jnp.zeros(3)}})
    step = reg_train.make_train_step(probe, tx, cfg, np.full((S, S, 3), 0.5, np.float32))
    batch = _batch()
    one_device = jax.tree.map(lambda x: jnp.asarray(x)[None], batch)
    new, _ = jax.jit(jax.vmap(step, axis_name=parallel.AXIS, in_axes=(None, 0, None)))(
        state, one_device, jax.random.key(3))
    # loss = mean_i sum(w |pred - t|^2) / sum(w): at pred = 0 the SGD(1) step moves pred to
    # -grad = 2 w t / (N sum(w)).
    w = canonical.weight_mask(S)
    moved = np.asarray(new.params["pred"][0])
    covered = w > 0
    target = np.zeros_like(moved)
    target[:, covered] = moved[:, covered] * N * w.sum() / (2 * w[covered][:, None])
    (crops,) = probe.seen  # one device
    return batch, target * probe.max_pos, crops.reshape(N, S, S, 3), covered


def test_target_and_crop_share_one_similarity(probed):
    """Per example, the target's x, y are an exact affine image of the full-image map (a
    similarity), and that affine map warps the full frame into the crop the network saw; the crops
    are jittered (they differ from the unjittered box crop and from each other)."""
    batch, target, crops, covered = probed
    plain = crop_lib.box_crop_matrix(batch["box"][:1], S, reg_train.DEFAULTS["crop_scale"],
                                     reg_train.DEFAULTS["crop_shift"])[0]
    mats = []
    for i in range(N):
        src = batch["pos_map"][i][covered][:, :2].astype(np.float64)
        dst = target[i][covered][:, :2].astype(np.float64)
        design = np.concatenate([src, np.ones((len(src), 1))], 1)
        m, *_ = np.linalg.lstsq(design, dst, rcond=None)
        m = m.T
        assert np.abs(design @ m.T - dst).max() < 1e-3 * S
        a = m[:, :2]
        np.testing.assert_allclose(a @ a.T, np.eye(2) * (a @ a.T)[0, 0], atol=1e-4)  # similarity
        warped = np.asarray(_warp(batch["image"][i], jnp.asarray(m, jnp.float32))) / 255.0
        err = np.abs(warped - crops[i]).max()
        assert err < 2e-3, f"example {i}: the target's crop differs from the image's by {err:.3f}"
        mats.append(m)
    assert min(np.abs(m - plain).max() for m in mats) > 0.05
    assert np.abs(mats[0] - mats[1]).max() > 0.05
