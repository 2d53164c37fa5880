"""The paper's pipeline as stages (see `jaxau.pipeline`): what each reads, writes and depends on.

Each stage's implementation lives in its own module of this package, named in ``impl``; a module that
does not exist yet makes `jaxau.pipeline.run_pipeline` report the stage as "not built yet" and its
dependents as blocked, while every other stage still runs. The report is not a stage: it is rebuilt
after every run from whatever has finished (`jaxau.report`).
"""

from jaxau.pipeline import Stage

# The main job / paper pipeline, in execution order.
PIPELINE = (
    Stage("data", "build the AU video dataset (SynthFACS by default) as TFDS",
          ("data",), impl="jaxau.stages.data:run"),
    Stage("frames_raw", "unregistered baseline: frames as captured, resized to data.image_size",
          ("data",), deps=("data",), impl="jaxau.stages.frames:run_raw"),
    Stage("registration", "train the PRNet-style UV position-map network",
          ("data", "registration"), deps=("data",), impl="jaxau.stages.registration:run"),
    Stage("register_2d", "register every frame: 68-landmark Procrustes alignment",
          ("data", "align", "align2d"), deps=("data", "registration"), impl="jaxau.stages.register:run_2d"),
    Stage("register_3d", "register every frame: 3D frontalisation and rasterisation",
          ("data", "align", "align3d"), deps=("data", "registration"), impl="jaxau.stages.register:run_3d"),
    Stage("generator", "train the GANimation generator with the idiosyncratic loss",
          ("data", "generator"), deps=("register_3d",), impl="jaxau.stages.generator:run"),
    Stage("synthesis", "semantic resampling into a balanced synthetic training set",
          ("data", "synthesis"), deps=("register_3d", "generator"), impl="jaxau.stages.synthesis:run"),
    Stage("estimator_real_raw", "train VGG16 on real unregistered frames (balanced resampling)",
          ("data", "estimator"), deps=("frames_raw",), impl="jaxau.stages.estimator:run_real"),
    Stage("estimator_real_2d", "train VGG16 on real 2D-registered frames (balanced resampling)",
          ("data", "estimator"), deps=("register_2d",), impl="jaxau.stages.estimator:run_real"),
    Stage("estimator_real_3d", "train VGG16 on real 3D-registered frames (balanced resampling)",
          ("data", "estimator"), deps=("register_3d",), impl="jaxau.stages.estimator:run_real"),
    Stage("estimator_synthetic_3d", "train VGG16 on the synthetic balanced set",
          ("data", "estimator"), deps=("register_3d", "synthesis"), impl="jaxau.stages.estimator:run_synthetic"),
)
