"""Stage ``registration``: train the PRNet-style network on SynthFACS, evaluate NME per pose.

Writes the model directory (``registration.json``, ``mean_map.npz``, ``checkpoints/``, logs) into the
stage directory, ``metrics.json`` (landmark / dense NME per pose on the test split, and the
mean-shape baseline's) and ``preview_registration.png`` (test frames at every pose with the
predicted landmarks).
"""

from __future__ import annotations

import os

from jaxau import io_utils, validate
from jaxau.align import canonical, preview
from jaxau.evaluation import registration as reg_eval
from jaxau.data import resolve
from jaxau.stages import data as data_stage
from jaxau.train import loop, prnet as reg_train


def check(config) -> None:
    """Checks the data and ``registration`` sections, raising `jaxau.validate.ConfigError` naming the fix."""
    resolve.check(config)
    if not str(config.data.name).startswith("synthfacs/"):
        raise validate.ConfigError(f"config.data.name={config.data.name!r}: registration trains on exact "
                                   "meshes, i.e. a synthfacs/* dataset.")
    for field in ("image_size", "base_width", "num_steps"):
        validate.positive_int(config, f"registration.{field}")
    validate.divisible_batch(config, "registration.batch_size")
    validate.positive_float(config, "registration.learning_rate")
    if config.registration.image_size % 32:
        raise validate.ConfigError(f"config.registration.image_size={config.registration.image_size} must be "
                                   "a multiple of 32 (PRNet downsamples five times): use 64, 128 or 256.")


def _settings(config) -> dict:
    return reg_train.settings(dict(config.registration))


def run(config, stage_dir: str, inputs) -> dict:
    cfg = _settings(config)
    size = int(cfg["image_size"])
    directory = data_stage.tfds_dir(config, inputs["data"])
    name = config.data.name
    train = reg_train.load_synthfacs(name, "train", directory, size, int(cfg["max_train_frames"]))
    test = reg_train.load_synthfacs(name, "test", directory, size)
    result = reg_train.train(cfg, stage_dir, train, seed=int(config.seed))
    if result.preempted:
        raise SystemExit(loop.PREEMPTED_EXIT_CODE)
    registrar = reg_train.load_registrar(stage_dir, batch_size=int(config.align.batch_size))
    ev = reg_eval.evaluate(registrar, test)
    record = {"steps": int(result.step), "train_frames": int(len(train["image"])), **ev.summary()}
    io_utils.write_json(os.path.join(stage_dir, "metrics.json"), record)
    write_preview(os.path.join(stage_dir, "preview_registration.png"), test, registrar)
    return {k: record[k] for k in ("steps", "train_frames", "num_frames", "landmark_nme", "dense_nme",
                                    "baseline_landmark_nme", "baseline_dense_nme", "oracle_landmark_nme")}


def write_preview(path: str, data: dict, registrar) -> None:
    """One test frame per pose with predicted (green) and true (red) landmarks."""
    m = canonical.registration_mesh()
    idx = preview.one_per_pose(data["pose_id"])
    res = registrar(data["image"][idx], data["box"][idx])
    tiles = [preview.draw_landmarks(data["image"][i], res.landmarks[j], data["vertices"][i, m.landmarks])
             for j, i in enumerate(idx)]
    preview.write_sheet(path, [tiles], [f"pose {int(data['pose_id'][i])}" for i in idx])
