"""Launchers reject bad configs with one-line errors (naming the field and the fix), exit status 2."""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = "configs/estimator/synthfacs_real.py"


def _launch(script, *args, devices=4):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    proc = subprocess.run([sys.executable, os.path.join("launch", script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    return proc.returncode, errors, proc.stderr


@pytest.mark.parametrize("override, expected", [
    ("--config.estimator.batch_size=-2", "config.estimator.batch_size=-2 must be a positive integer"),
    ("--config.estimator.batch_size=6", "not divisible by the 4 devices: pass --config.estimator.batch_size=4"),
    ("--config.data.aus=AU01,AU99", "config.data.aus: Unknown AU 'AU99'"),
    ("--config.data.aus=AU01,AU43", "['AU43'] are not labelled in 'synthfacs/fera_frontal'"),
    ("--config.estimator.image_size=16", "config.estimator.image_size=16 must be >= 32"),
    ("--config.estimator.readout=median", "config.estimator.readout='median' is not one of"),
    ("--config.data.name=ferra2017", "config.data.name: Unknown dataset 'ferra2017'"),
    ("--config.data.name=disfa/left", "config.data.data_dir is required for 'disfa/left'"),
])
def test_bad_config_values_give_one_line_errors(tmp_path, override, expected):
    args = [f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}", override]
    if override.endswith("disfa/left"):
        args.append("--config.data.aus=AU01,AU12")
    rc, errors, stderr = _launch("train_estimator.py", *args)
    assert rc == 2, stderr[-2000:]
    assert len(errors) == 1 and expected in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr


def test_missing_data_dir(tmp_path):
    rc, errors, stderr = _launch("train_estimator.py", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
                                 "--config.data.name=disfa/left", "--config.data.aus=AU01,AU12",
                                 f"--config.data.data_dir={tmp_path / 'nowhere'}")
    assert rc == 2
    assert errors == [f"error: config.data.data_dir='{tmp_path / 'nowhere'}': TFDS data directory not found; "
                      "pass --config.data.data_dir=/path/to/it."], stderr[-2000:]


def test_missing_workdir():
    rc, errors, stderr = _launch("train_estimator.py", f"--config={CONFIG}")
    assert rc == 2
    assert errors == ["error: --workdir is required: pass --workdir=/path/to/run (created if missing)."], stderr


def test_workdir_that_is_a_file(tmp_path):
    (tmp_path / "a").write_text("x")
    rc, errors, _ = _launch("reproduce.py", "--config=configs/demo.py", f"--workdir={tmp_path / 'a'}")
    assert rc == 2 and errors == [f"error: --workdir={tmp_path / 'a'} is a file, not a directory: choose another path."]


def test_workdir_parents_are_created(tmp_path):
    # The README's main command uses workdir/demo in a fresh clone, where workdir/ does not exist yet.
    from jaxau import validate

    assert validate.workdir(str(tmp_path / "a" / "b")) == str(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_missing_config(tmp_path):
    rc, errors, _ = _launch("evaluate.py", f"--workdir={tmp_path}")
    assert rc == 2
    assert errors == ["error: --config is required: pass --config=configs/<experiment>.py."]


@pytest.mark.parametrize("script, config, override, expected", [
    ("train_generator.py", "configs/generator/synthfacs.py", "--config.generator.batch_size=6",
     "not divisible by the 4 devices"),
    ("train_generator.py", "configs/generator/synthfacs.py", "--config.data.aus=AU99", "Unknown AU 'AU99'"),
    ("train_generator.py", "configs/generator/synthfacs.py", "--config.generator.partners=oracle",
     "config.generator.partners='oracle' renders exact partners registered by the pipeline's"),
    ("synthesize.py", "configs/generator/synthfacs.py", "--config.synthesis.per_level=20",
     "config.synthesis.generator_dir='': trained generator directory not found"),
    ("synthesize.py", "configs/generator/synthfacs.py", "--config.synthesis.calibrate_edit_scale=True",
     "config.synthesis.calibrate_edit_scale=True: this launcher has no real-frame estimator"),
    ("train_estimator.py", "configs/estimator/synthfacs_real.py", "--config.estimator.norm=layer",
     "estimator.norm"),
    ("reproduce.py", "configs/paper/table2.py:cpu", "--config.experiment.columns.real_2d.train=real:4d",
     "columns.real_2d.train"),
])
def test_generator_launchers_reject_bad_values(tmp_path, script, config, override, expected):
    rc, errors, stderr = _launch(script, f"--config={config}", f"--workdir={tmp_path / 'run'}", override)
    assert rc == 2, stderr[-2000:]
    assert len(errors) == 1 and expected in errors[0], stderr[-2000:]


@pytest.mark.parametrize("args, expected", [
    (["--config=configs/demo.py", "--config.estimator.bogus=1"],
     "--config.estimator.bogus: configs/demo.py has no field 'bogus' in estimator (fields there: batch_size"),
    (["--config=configs/nope.py"], "--config=configs/nope.py: no such file; pass a config file such as"),
    (["--config=configs/demo.py", "--config.estimator.num_steps=abc"],
     "flag --config.estimator.num_steps=abc: invalid literal for int()"),
    (["--config=configs/demo.py", "--stages=bogus"], "--stages: unknown stage 'bogus'; use a stage name"),
    # Every stage's config is checked before the first stage runs (not after minutes of earlier stages).
    (["--config=configs/demo.py", "--config.estimator.num_steps=-3"],
     "config.estimator.num_steps=-3 must be a positive integer"),
    (["--config=configs/demo.py", "--config.generator.n_critic=0"],
     "config.generator.n_critic=0 must be a positive integer"),
    (["--config=configs/demo.py", "--config.generator.critic_warmup_loss=adv"],
     "config.generator.critic_warmup_loss='adv' is not one of ['full', 'expression']"),
    (["--config=configs/demo.py", "--config.experiment.column_order=real_2d,nope"],
     "config.experiment.column_order names ['nope'], which are not columns"),
    (["--config=configs/demo.py", "--config.generator.sampling=levels"],
     "config.generator.sampling='levels' is not one of ['frames', 'balanced', 'pairs']"),
    (["--config=configs/demo.py", "--config.generator.critic_fake_exp=-0.5"],
     "config.generator.critic_fake_exp=-0.5 must be a non-negative number"),
    (["--config=configs/demo.py", "--config.generator.lambda_exp_frozen=160", "--config.generator.critic_warmup=0"],
     "config.generator.lambda_exp_frozen=160.0 reads G's images with the critic as it stands after an "
     "expression-only warm-up, but critic_warmup=0"),
    (["--config=configs/demo.py", "--config.generator.critic_warmup=5000"],
     "config.generator.critic_warmup=5000 leaves no generator update in num_steps="),
    (["--config=configs/demo.py", "--config.registration.image_size=48"],
     "config.registration.image_size=48 must be a multiple of 32"),
    (["--config=configs/demo.py", "--config.synthesis.per_level=0"],
     "config.synthesis.per_level=0 must be a positive integer"),
    # Paper size without ImageNet weights: the paper fine-tunes them, so say which file to pass.
    (["--config=configs/paper/table2.py"],
     "config.estimator.pretrained: the paper fine-tunes ImageNet VGG16 weights; pass --config.estimator."
     "pretrained=/path/to/vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
])
def test_bad_flags_give_one_line_errors_before_any_stage(tmp_path, args, expected):
    rc, errors, stderr = _launch("reproduce.py", *args, f"--workdir={tmp_path / 'run'}", devices=1)
    assert rc == 2, stderr[-2000:]
    assert len(errors) == 1 and expected in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr
    assert not (tmp_path / "run" / "stages").exists()


def test_an_empty_manual_dir_is_one_line(tmp_path):
    (tmp_path / "disfa" / "empty_folder").mkdir(parents=True)
    rc, errors, stderr = _launch("train_estimator.py", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
                                 "--config.data.name=disfa/left", "--config.data.aus=AU01,AU12",
                                 f"--config.data.data_dir={tmp_path / 'tfds'}",
                                 f"--config.data.manual_dir={tmp_path / 'disfa'}")
    assert rc == 2, stderr[-2000:]
    assert len(errors) == 1 and "holds no files: point it at your copy of disfa/left in its official layout" in errors[0], stderr[-2000:]


@pytest.mark.parametrize("draw", ["image", "edit"])
def test_the_synthesis_launcher_draws_at_the_fixed_edit_scale(tmp_path, draw):
    """``launch/synthesize.py`` with ``synthesis.edit_scale=2``: the set is src + 2 (G - src) (or,
    ``synthesis.draw='edit'``, src + 2 (G(src | y_t) - G(src | y_src))), as the library draws it."""
    from configs.generator import synthfacs
    from jaxau.data import frames as frames_lib
    from jaxau.synthesis import synthesize as synthesize_lib
    from jaxau.train import generator as gen_train
    from launch import synthesize as launcher
    from tests.synthesis.test_synthesize import frame_set, make_generator_dir

    gen_dir = make_generator_dir(str(tmp_path / "gen"))
    sources = tmp_path / "sources.npz"
    np.savez(sources, **frame_set(24, 7, "s"))
    config = synthfacs.get_config()
    config.synthesis.generator_dir, config.synthesis.sources = gen_dir, str(sources)
    config.synthesis.per_level, config.synthesis.batch_size, config.synthesis.chunk_size = 1, 4, 8
    config.synthesis.edit_scale, config.synthesis.draw = 2.0, draw
    assert launcher.main(config, str(tmp_path / "out")) == 0
    made = frames_lib.load(str(tmp_path / "out" / "synthetic.frames"))
    with np.load(tmp_path / "out" / "plan.npz") as f:
        src, tgt = f["source_index"], f["target_labels"]
    trained = gen_train.load_generator(gen_dir)
    source_set = frames_lib.with_aus(frames_lib.load(str(sources)), list(trained.au_names))
    images = source_set["image"][src]
    want = synthesize_lib.generate_images(trained.generator, trained.params, images, tgt, 4, edit_scale=2.0,
                                          draw=draw, source_labels=source_set["au_intensity"][src])
    own = synthesize_lib.generate_images(trained.generator, trained.params, images, tgt, 4)
    assert np.abs(np.asarray(made["image"]).astype(int) - want.astype(int)).max() <= 1
    assert not np.array_equal(want, own)
