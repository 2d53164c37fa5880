"""The pipeline's config schema: every config sets every field a stage reads, and keys hash them."""

import importlib
import pkgutil

import pytest

import configs.paper
from configs import demo
from configs.estimator import synthfacs_real
from configs.generator import synthfacs as generator_config
from configs.paper import base
from configs.registration import synthfacs as registration_config
from jaxau.stages import STAGES, augment, graph, runner, schema
from jaxau.train import estimator, generator, prnet
from jaxau.validate import ConfigError

ALL_SECTIONS = list(schema.SECTIONS) + list(schema.TOP_LEVEL)


def _paper_configs():
    for info in pkgutil.iter_modules(configs.paper.__path__):
        if info.name != "base":
            module = importlib.import_module(f"configs.paper.{info.name}")
            for size in ("cpu", "medium", "paper"):
                arg = f"{size},lambda_exp" if info.name == "fig3" else size
                yield f"{info.name}:{size}", module.get_config(arg)


def test_every_config_sets_every_stage_field():
    configs_ = [("demo", demo.get_config()), ("estimator/synthfacs_real", synthfacs_real.get_config()),
                ("generator/synthfacs", generator_config.get_config()),
                ("registration/synthfacs", registration_config.get_config())] + list(_paper_configs())
    assert len(configs_) > 20
    for name, config in configs_:
        assert schema.missing(config, ALL_SECTIONS) == {}, name


def test_schema_covers_every_library_default():
    # A library default the schema missed would decide a stage's output without being hashed.
    assert set(generator.DEFAULTS) <= set(schema.SECTIONS["generator"])
    assert set(prnet.DEFAULTS) <= set(schema.SECTIONS["registration"])
    assert set(estimator.DEFAULTS) | set(estimator.REQUIRED) <= set(schema.SECTIONS["estimator"]) | {"image_size"}
    assert set(augment.DEFAULTS) <= set(schema.SECTIONS["augment"])


def test_base_values_equal_the_library_defaults_where_the_paper_keeps_them():
    # The paper size leaves these at the values the library documents; a drift would be a silent change.
    paper = base.base_config("paper")
    for key in ("composite", "b1", "b2", "lambda_gp", "decay_steps", "target_noise", "lambda_mask", "lambda_tv"):
        assert paper.generator[key] == generator.DEFAULTS[key], key
    for key in ("norm", "schedule", "warmup_steps", "preprocessing", "flip", "bn_momentum"):
        assert paper.estimator[key] == estimator.DEFAULTS[key], key
    for key in ("crop_scale", "crop_shift", "schedule", "warmup_steps", "max_train_frames"):
        assert paper.registration[key] == prnet.DEFAULTS[key], key


@pytest.mark.parametrize("stage,section,field", [
    ("generator", "generator", "lambda_tv"), ("registration", "registration", "crop_shift"),
    ("register_3d", "align3d", "sampling"), ("estimator", "estimator", "flip"),
    ("synthesis", "synthesis", "fidelity_per_cell"), ("augment", "augment", "batch_size")])
def test_a_missing_field_is_one_line_before_any_stage(stage, section, field):
    config = demo.get_config()
    del config[section][field]
    with pytest.raises(ConfigError, match=rf"config\.{section}\.{field} not set: .*configs/paper/base\.py"):
        STAGES[stage].check_config(config)


def test_the_seed_is_in_the_key_of_every_stage_that_draws_random_numbers():
    config = demo.get_config()
    other = demo.get_config()
    other.seed = 1
    first = {n.name: n for n in graph.plan(config, STAGES).nodes}
    second = {n.name: n for n in graph.plan(other, STAGES).nodes}
    kept = {n.stage.name for n in first.values() if n.name in second}
    # Data and the alignments are deterministic: shared; everything trained or sampled is new.
    assert kept == {"data"}, kept
    for name in ("registration", "generator", "synthesis", "estimator", "augment", "oracle"):
        assert "seed" in STAGES[name].config_keys, name
    for name in ("data", "register_2d", "register_3d", "score", "frames_raw"):
        assert "seed" not in STAGES[name].config_keys, name


def test_stage_key_changes_with_any_hashed_field():
    stage = STAGES["estimator"]
    config = demo.get_config()
    key = runner.stage_key(stage, config, [])
    config.estimator.flip = False
    assert runner.stage_key(stage, config, []) != key
