"""The paper's pipeline as stages (see `jaxau.stages.runner`): what each reads, writes and depends on.

``STAGES`` defines each stage once: the config sections that define its output and the input roles
its implementation reads. `jaxau.stages.graph.plan` instantiates them per experiment column (2-D and
3-D registration of several datasets, generator variants, combined training sets, ...). Each stage's
implementation lives in its own module of this package, named in ``impl``; a module that does not
exist makes `jaxau.stages.runner.run_graph` report the stage as "not built yet" and its dependents as
blocked, while every other stage still runs. The report is not a stage: it is rebuilt after every run
from whatever has finished (`jaxau.report`).
"""

import dataclasses

from jaxau.stages.runner import Stage

# Which poses are scored only matters to scoring: other stages leave it out of their hash, so
# Fig. 5 (all poses) shares registration, generators and estimators with Table 2 (frontal).
_SCORING_ONLY = ("data.test_poses",)
# The views the generator trains on and the synthesis re-animates: no other stage reads them.
_GENERATOR_ONLY = ("data.train_poses",)

# How the generator's images are drawn into the set: the oracle set (the same plan rendered exactly)
# does not depend on them.
_GENERATED_ONLY = ("synthesis.edit_scale", "synthesis.calibrate_edit_scale", "synthesis.edit_scale_max",
                   "synthesis.calibration_per_cell", "synthesis.draw")
# The regenerate stage redraws with each image's own labels, always as the generator's image.
_IMAGE_DRAW_ONLY = ("synthesis.draw",)
# Settings added after stages were made, at the value that reproduces those stages: left out of
# every key while they hold it, so finished work stays cached.
_NEUTRAL = (("synthesis.draw", "image"), ("oracle.blur", 0.0), ("generator.own_fraction", 0.0),
            ("estimator.real_pool", "frames"), ("generator.conditioning", "absolute"),
            ("synthesis.plan", "semantic"))

# Stages that draw random numbers hash ``seed`` (a run with --config.seed=1 trains new models and
# resamples anew); alignment, scoring and the data build do not.
_STAGE_LIST = (
    Stage("data", "build the AU video dataset (SynthFACS by default) as TFDS",
          ("data",), impl="jaxau.stages.data:run", version=2, check="jaxau.data.resolve:check",
          fingerprint="jaxau.data.resolve:fingerprint"),
    Stage("frames_raw", "unregistered baseline: frames as captured, resized to data.image_size",
          ("data",), deps=("data",), impl="jaxau.stages.frames:run_raw"),
    Stage("registration", "train the PRNet-style UV position-map network",
          ("data", "registration", "seed"), deps=("data",), impl="jaxau.stages.registration:run", version=2, check="jaxau.stages.registration:check"),
    Stage("register_2d", "register every frame: 68-landmark Procrustes alignment",
          ("data", "align", "align2d"), deps=("data", "registration"), impl="jaxau.stages.register:run_2d",
          check="jaxau.stages.register:check"),
    Stage("register_3d", "register every frame: 3D frontalisation and rasterisation",
          ("data", "align", "align3d"), deps=("data", "registration"), impl="jaxau.stages.register:run_3d",
          check="jaxau.stages.register:check"),
    Stage("generator", "train the GANimation generator with the idiosyncratic loss",
          ("data", "generator", "seed"), deps=("frames",), impl="jaxau.stages.generator:run", version=3, check="jaxau.stages.generator:check"),
    # Optional roles: 'targets' (another frame set whose labels give the target AU vectors),
    # 'registration' and 'reader' (the generator's fidelity against oracle renders).
    Stage("synthesis", "semantic resampling into a balanced synthetic training set",
          ("data", "synthesis", "seed"), deps=("generator", "sources"), impl="jaxau.stages.synthesis:run", version=4, check="jaxau.stages.synthesis:check"),
    # Optional roles 'targets' and 'registration' as synthesis's; no generator: SynthFACS renders.
    Stage("oracle", "the synthesis plan rendered exactly by SynthFACS (a perfect generator)",
          ("data", "synthesis", "oracle", "seed"), deps=("sources",), impl="jaxau.stages.synthesis:run_oracle", check="jaxau.stages.synthesis:check_oracle"),
    # Roles 'set' (an oracle stage) and 'generator', plus the oracle stage's own roles (the edit's reference).
    Stage("regenerate", "the oracle set drawn again by the generator with its own labels (its hand alone)",
          ("data", "synthesis", "oracle", "seed"), deps=("set", "generator", "sources"),
          impl="jaxau.stages.synthesis:run_regenerate", check="jaxau.stages.synthesis:check"),
    Stage("augment", "3D pose augmentation of the synthetic set, 2D normalised (Fig. 5 c)",
          ("data", "augment", "align", "align2d", "seed"), deps=("synthesis",), impl="jaxau.stages.augment:run"),
    # Roles besides validation: train_real<i> (balanced here), train_set<i> (already balanced) with
    # sources<i> (the real frames it was resampled from), registration (when the frames are registered).
    Stage("estimator", "train VGG16 on the column's training set",
          ("data", "estimator", "seed"), deps=("validation",), impl="jaxau.stages.estimator:run", version=3, check="jaxau.stages.estimator:check"),
    Stage("score", "score a trained estimator on a real test set",
          ("data", "estimator", "eval"), deps=("model", "test"), impl="jaxau.stages.estimator:run_score", check="jaxau.data.resolve:check"),
    Stage("internal", "score the GANimation critic's AU regressor as an estimator (Table S4)",
          ("data", "eval"), deps=("generator", "test"), impl="jaxau.stages.internal:run"),
)


def _ignored(name: str) -> tuple[str, ...]:
    scoring = () if name in ("score", "internal") else _SCORING_ONLY
    generator = () if name in ("generator", "synthesis", "oracle", "regenerate") else _GENERATOR_ONLY
    generated = _GENERATED_ONLY if name == "oracle" else _IMAGE_DRAW_ONLY if name == "regenerate" else ()
    return scoring + generator + generated


STAGES = {s.name: dataclasses.replace(s, ignore=_ignored(s.name), neutral=_NEUTRAL,
                                      schema="jaxau.stages.schema:require")
          for s in _STAGE_LIST}
