"""Registration training on a tiny SynthFACS build: targets, BN momentum algebra, a short training
that beats the mean-shape baseline on a held-out subject, and exact resume."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.align import canonical, crop, registrar as register
from jaxau.evaluation import registration as reg_eval
from jaxau.face.asset import REGION_WEIGHTS
from jaxau.models.prnet import BN_MOMENTUM
from jaxau.train import prnet as reg_train
from jaxau.train import metrics as metrics_lib

SIZE = 64
# 4 test devices: a global batch of 16 leaves 4 frames per device for BatchNorm's batch statistics
# (PRNet's BN is per device); 2 per device did not train in 200 steps.
CFG = dict(image_size=SIZE, base_width=4, batch_size=16, num_steps=300, learning_rate=3e-3, log_every=25,
           rotation_deg=5.0, jitter_shift=0.05, jitter_scale=(0.95, 1.05), color_jitter=0.1,
           checkpoint_every=150)


@pytest.fixture(scope="module")
def data(request):
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    train = reg_train.load_synthfacs("synthfacs/fera_small", "train", data_dir, SIZE)
    test = reg_train.load_synthfacs("synthfacs/fera_small", "test", data_dir, SIZE)
    return train, test


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("registration"))
    result = reg_train.train(CFG, workdir, data[0], seed=0)
    return workdir, result


@pytest.fixture(scope="module")
def evaluated(data, trained):
    """The trained registrar and its held-out evaluation with the true boxes (shared by two tests)."""
    reg = reg_train.load_registrar(trained[0], batch_size=16)
    return reg, reg_eval.evaluate(reg, data[1]).summary()


def test_weight_mask_uses_prnet_ratios():
    w = canonical.weight_mask(SIZE)
    assert set(np.unique(w)) == set(REGION_WEIGHTS)
    mask = canonical.uv_raster(SIZE)[2]
    assert np.all(w[~mask] == 0)
    # Every landmark texel the map covers carries the landmark weight (a few, e.g. on the chin and the
    # inner lip line, fall just outside the covered texels at 64^2).
    uv = canonical.registration_mesh().uv[canonical.registration_mesh().landmarks]
    rc = np.minimum((uv[:, ::-1] * SIZE).astype(int), SIZE - 1)
    covered = mask[rc[:, 0], rc[:, 1]]
    assert covered.sum() >= 55 and np.all(w[rc[covered, 0], rc[covered, 1]] == 16.0)


def test_crop_target_by_hand():
    pm = np.zeros((SIZE, SIZE, 3), np.float32)
    mask = canonical.uv_raster(SIZE)[2]
    pm[mask] = [10.0, 20.0, 7.0]
    m = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, -3.0]], np.float32)
    out = np.asarray(register.crop_target(jnp.asarray(pm), jnp.asarray(m), SIZE))
    np.testing.assert_allclose(out[mask], np.broadcast_to([21.0, 37.0, SIZE / 2], out[mask].shape), atol=1e-4)
    assert np.all(out[~mask] == 0)


def test_bn_momentum_rescaling_is_exact():
    rng = np.random.default_rng(0)
    old = {"bn": {"mean": jnp.asarray(rng.normal(size=5), jnp.float32)}}
    batch = jnp.asarray(rng.normal(size=5), jnp.float32)
    flax_new = {"bn": {"mean": BN_MOMENTUM * old["bn"]["mean"] + (1 - BN_MOMENTUM) * batch}}
    out = reg_train.rescale_momentum(old, flax_new, 0.9)
    np.testing.assert_allclose(out["bn"]["mean"], 0.9 * old["bn"]["mean"] + 0.1 * batch, atol=2e-4)
    assert reg_train.rescale_momentum(old, flax_new, BN_MOMENTUM) is flax_new


def test_short_training_beats_the_mean_shape_on_a_held_out_subject(data, trained, evaluated):
    workdir, result = trained
    assert result.step == CFG["num_steps"] and not result.preempted
    train, test = data
    assert not set(test["subject"]) & set(train["subject"])
    log = metrics_lib.read_jsonl(os.path.join(workdir, "registration_metrics.jsonl"))
    assert log[-1]["loss"] < 0.7 * log[0]["loss"], log
    ev = evaluated[1]
    print("registration NME", {k: v for k, v in ev.items() if "nme" in k and "pose" not in k})
    assert ev["landmark_nme"] < 0.9 * ev["baseline_landmark_nme"], ev
    assert ev["dense_nme"] < 0.9 * ev["baseline_dense_nme"], ev
    assert len(ev["landmark_nme_by_pose"]) == 9
    # The oracle (exact maps through the same decoding) is the floor of both.
    assert ev["oracle_landmark_nme"] < ev["landmark_nme"]


def test_rerun_resumes_from_the_final_checkpoint_without_training(data, trained):
    workdir, first = trained
    again = reg_train.train(CFG, workdir, data[0], seed=0)
    assert again.start_step == CFG["num_steps"] == again.step
    same = jax.tree.map(lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
                        jax.device_get(first.state), jax.device_get(again.state))
    assert all(jax.tree.leaves(same))


def _jittered_boxes(boxes, seed=0, shift=0.05, scale=0.05):
    """Landmark boxes moved by up to ``shift`` of their size and rescaled by up to ``scale``."""
    rng = np.random.default_rng(seed)
    size = crop.box_size(boxes)[:, None]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.uniform(-shift, shift, (len(boxes), 2)) * size
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * rng.uniform(1 - scale, 1 + scale, (len(boxes), 1))
    return np.concatenate([centre - half, centre + half], 1).astype(np.float32)


def test_registration_with_jittered_and_detected_boxes_beats_the_mean_shape(data, evaluated):
    """Landmark NME (2-D, by the true box's sqrt(w h)) of the held-out subject's frames registered
    from boxes that are not the ground truth: the true boxes jittered by up to 5% in position and
    size (what training's crop jitter covers), and the Haar detector's boxes on the frames where it
    finds a face. Each beats the mean shape placed in the *true* box, and jitter costs at most 30%
    over the true boxes' NME.

    The bounds are relative because this 300-step training ends in a different place on every seed
    and CPU type: true / jittered / detected NME 0.071 / 0.083 / 0.108 (seed 0) and 0.121 / 0.135 (seed
    1) on an AMD Zen 5 box, 0.118 / 0.124 / 0.115 (seed 0) on an Intel AMX box; mean shape 0.156;
    jittered / true 1.05-1.19 on every run (BUILD_NOTES.md "CI")."""
    from jaxau.align import detect
    from jaxau.align.canonical import registration_mesh

    test = data[1]
    reg, ev = evaluated
    lm = registration_mesh().landmarks
    true = test["vertices"][:, lm]
    jittered = _jittered_boxes(test["box"])
    res = reg(test["image"], jittered)
    jit_nme = reg_eval.nme(res.landmarks, true, test["box"])
    boxes, found = detect.detect_faces(test["image"])
    det = reg(test["image"][found], boxes[found])
    det_nme = reg_eval.nme(det.landmarks, true[found], test["box"][found])
    print("true-box NME", ev["landmark_nme"], "jittered-box NME", jit_nme.mean(), "detected-box NME",
          det_nme.mean(), "found", found.sum(), "mean shape", ev["baseline_landmark_nme"])
    assert found.sum() >= 6
    assert jit_nme.mean() < ev["baseline_landmark_nme"], (jit_nme.mean(), ev)
    assert det_nme.mean() < ev["baseline_landmark_nme"], (det_nme.mean(), ev)
    assert jit_nme.mean() < 1.3 * ev["landmark_nme"], (jit_nme.mean(), ev)
