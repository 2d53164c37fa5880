"""SynthFACS domains and the pure-Python frame generator behind the ``synthfacs`` TFDS builder.

A *domain config* (:class:`SynthConfig`) fixes the AU vocabulary, subject counts per split, sessions
and frames, the camera/pose set, lighting and background styles and the AU base rates. Everything is
deterministic from ``(config.seed, split, subject index)``: each subject gets its own
``numpy.random.Generator`` seeded from those numbers, so splits are subject-disjoint by construction
and any subject can be regenerated alone. Rendering is batched under ``jit`` (fixed batch size, the
last batch padded) so one compilation serves a whole build.
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from typing import Iterator, Mapping, Sequence

import numpy as np

from jaxau import au as au_lib
from jaxau.au import SPLITS
from jaxau.face import albedo, au_mapping, model, sequences
from jaxau.face.asset import load_asset
from jaxau.face.model import FaceModel
from jaxau.face.render import Renderer, rotation_matrix

# The ``synthfacs`` TFDS builder's version: raise it whenever the frames a config renders change
# (asset, renderer, sampling). With the config's fields it is part of the data stage's cache key
# (`jaxau.data.resolve.fingerprint`), and TFDS builds each version into its own directory.
VERSION = "1.3.1"
RELEASE_NOTES = {
    "1.0.0": "First release: fera / multipie / disfa domains and small variants.",
    "1.1.0": "iBUG-68 landmarks: jaw ends at eye-corner height, nose base and inner mouth corners "
             "moved; the UV position-map layout spans the whole jaw contour.",
    "1.2.0": "fera_demo_large: 12 validation subjects (was 6); the other configs' frames are unchanged.",
    "1.3.0": "fera_demo_large: 30 test subjects (was 10); the other splits and configs are unchanged.",
    "1.3.1": "Rasterizer arithmetic (barycentric interpolation as three products, the C++ kernel's): every "
             "config's frames differ from 1.3.0 in rounding only (fera_demo_large validation: UV position maps "
             "by one float16 step in 18 % of frames, images by at most 2 of 255 in 1.6 %).",
}


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """One SynthFACS domain / size.

    Attributes:
      name: builder config name (``fera``, ``fera_small``, ...).
      domain: ``fera`` | ``multipie`` | ``disfa`` (selects styles below).
      aus: labelled AUs (``au_intensity`` columns).
      subjects: subjects per split, ``{'train': n, 'validation': n, 'test': n}``.
      sessions: sessions (sequences) per subject.
      frames: frames per session.
      frame_stride: 30 fps timeline frames between kept frames (spreads a short session over time).
      poses: ``((id, yaw_deg, pitch_deg), ...)``; ``all_poses`` renders every frame in every pose
        (FERA 2017 renders each BP4D frame in 9 views), otherwise one pose per session.
      posed: Multi-PIE style: each session is one posed expression at apex, its frames are
        lighting variants.
      image_size, supersample, uv_size: output image side, supersampling, position-map side (0: none).
      face_size: decimetres of the template that span the image height (smaller = closer camera).
      face_centre_y: template height (dm; eyes at 0, mouth ~-0.67) put at the image centre.
      occupancy: event base rates (see :mod:`jaxau.face.sequences`).
      light, background: style names (see :func:`sample_scene`).
      seed: base seed.
      batch_size: frames rendered per jit call.
    """

    name: str
    domain: str
    aus: tuple
    subjects: Mapping[str, int]
    sessions: int
    frames: int
    frame_stride: int = 3
    poses: tuple = ((0, 0.0, 0.0),)
    all_poses: bool = False
    posed: bool = False
    image_size: int = 256
    supersample: int = 2
    uv_size: int = 256
    face_size: float = 2.4
    face_centre_y: float = -0.42
    occupancy: Mapping[str, float] = dataclasses.field(default_factory=dict)
    light: str = "studio"
    background: str = "dark"
    seed: int = 0
    batch_size: int = 16

    def __post_init__(self):
        if self.domain not in ("fera", "multipie", "disfa", "unbc"):
            raise ValueError(f"SynthConfig {self.name}: domain must be fera|multipie|disfa|unbc, got "
                             f"{self.domain!r}.")
        au_lib.canonical_aus(self.aus)
        missing = [a for a in self.aus if a not in au_mapping.SIMULATED_AUS]
        if missing:
            raise ValueError(f"SynthConfig {self.name}: no blendshape mapping for {missing}.")
        if set(self.subjects) - set(SPLITS):
            raise ValueError(f"SynthConfig {self.name}: subjects keys must be among {SPLITS}.")
        if self.uv_size and self.uv_size % 8:
            raise ValueError(f"SynthConfig {self.name}: uv_size must be a multiple of 8.")

    @property
    def timeline(self) -> sequences.TimelineConfig:
        return sequences.TimelineConfig(occupancy=dict(self.occupancy))

    def examples_per_subject(self) -> int:
        views = len(self.poses) if self.all_poses else 1
        return self.sessions * self.frames * views


# Social interaction (BP4D tasks): frequent smiles and talking, the rest rarer.
FERA_OCCUPANCY = {"smile": 0.28, "talk": 0.22, "brow_raise": 0.06, "frown": 0.06, "disgust": 0.03,
                  "chin_raise": 0.09, "sad": 0.03, "dimpler": 0.10, "lip_stretch": 0.03,
                  "surprise": 0.02, "upper_lip": 0.08, "blink": 0.06}
# Shoulder-pain tests (UNBC-McMaster): mostly neutral, pain episodes during painful movements.
UNBC_OCCUPANCY = {"pain": 0.22, "smile": 0.05, "talk": 0.04, "frown": 0.03, "blink": 0.07}
# UNBC's FACS AUs that SynthFACS simulates (AU43, eyes closed, is not simulated, so not labelled).
UNBC_AUS = ("AU04", "AU06", "AU07", "AU09", "AU10", "AU12", "AU20", "AU25", "AU26")
# Film watching (DISFA): silent, mostly neutral, smiles during comedy, some surprise/disgust.
DISFA_OCCUPANCY = {"smile": 0.14, "talk": 0.03, "brow_raise": 0.05, "frown": 0.05, "disgust": 0.03,
                   "chin_raise": 0.04, "sad": 0.02, "dimpler": 0.03, "lip_stretch": 0.03,
                   "surprise": 0.03, "upper_lip": 0.03, "blink": 0.07}
# FERA 2017 renders 9 views on a yaw x pitch grid. Its exact angles are not verified here
# (reference/datasets.md §1); we use yaw -40/0/40 x pitch -20/0/20 degrees, frontal = id 4.
FERA_POSES = tuple((3 * i + j, float(yaw), float(pitch))
                   for i, pitch in enumerate((20.0, 0.0, -20.0))
                   for j, yaw in enumerate((-40.0, 0.0, 40.0)))
MULTIPIE_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU17",
                "AU20", "AU25", "AU26")


def _configs() -> dict:
    fera = dict(domain="fera", aus=au_lib.FERA2017_AUS, poses=FERA_POSES, all_poses=True,
                occupancy=FERA_OCCUPANCY, light="studio", background="dark", face_size=2.5)
    disfa = dict(domain="disfa", aus=au_lib.DISFA_AUS, occupancy=DISFA_OCCUPANCY, light="office",
                 background="room", face_size=2.9, frame_stride=4)
    unbc = dict(domain="unbc", aus=UNBC_AUS, occupancy=UNBC_OCCUPANCY, light="office", background="room",
                face_size=2.7, frame_stride=4)
    mpie = dict(domain="multipie", aus=MULTIPIE_AUS, posed=True, light="flash", background="grey",
                face_size=2.2, occupancy={})
    return {c.name: c for c in (
        SynthConfig(name="fera", subjects={"train": 41, "validation": 20, "test": 30}, sessions=8,
                    frames=60, **fera),
        SynthConfig(name="fera_small", subjects={"train": 4, "validation": 2, "test": 2}, sessions=1,
                    frames=2, image_size=128, uv_size=128, **fera),
        # The demo's size: 3 frontal-row views (yaw -40/0/40), frames spread over ~5 s per session so
        # that AU episodes rise and fall within the few kept frames; ~840 images, ~1.5 min on 2 cores.
        SynthConfig(name="fera_demo", subjects={"train": 8, "validation": 2, "test": 4}, sessions=2,
                    frames=10, frame_stride=15, image_size=96, uv_size=64,
                    **{**fera, "poses": FERA_POSES[3:6]}),
        SynthConfig(name="disfa", subjects={"train": 18, "validation": 4, "test": 5}, sessions=4,
                    frames=400, **disfa),
        SynthConfig(name="disfa_small", subjects={"train": 4, "validation": 2, "test": 2}, sessions=2,
                    frames=8, image_size=128, uv_size=128, **disfa),
        # UNBC-McMaster's role (Table S5): 25 subjects, frontal, pain episodes. Tested whole.
        SynthConfig(name="unbc", subjects={"train": 15, "validation": 4, "test": 6}, sessions=8,
                    frames=200, **unbc),
        SynthConfig(name="unbc_small", subjects={"train": 3, "validation": 1, "test": 2}, sessions=2,
                    frames=8, image_size=128, uv_size=0, **unbc),
        SynthConfig(name="multipie", subjects={"train": 200, "validation": 37, "test": 100},
                    sessions=len(sequences.POSED), frames=4, image_size=512, uv_size=256, **mpie),
        SynthConfig(name="multipie_small", subjects={"train": 3, "validation": 1, "test": 1},
                    sessions=len(sequences.POSED), frames=2, image_size=128, uv_size=128, **mpie),
        # Estimator-sized FERA domain: frontal view only (pose id 4, as in `fera`), many
        # subjects and short sessions of well-spaced frames (1.5 s apart), so AU episodes of many
        # identities under many lights are sampled; 64 px, no position maps: ~4,300 images, a few
        # minutes to build on 2 cores.
        SynthConfig(name="fera_frontal", subjects={"train": 60, "validation": 10, "test": 20},
                    sessions=8, frames=6, frame_stride=45, image_size=64, uv_size=0,
                    **{**fera, "poses": (FERA_POSES[4],)}),
        # The demo's estimator-sized set: fera_demo's 3 frontal-row views (yaw -40/0/40)
        # with position maps for registration, but many subjects in short sessions of frames 1.5 s
        # apart (as fera_frontal) so the estimators learn instead of memorising 8 identities:
        # 45/12/30 subjects x 4 sessions x 4 frames x 3 views = 4,176 images at 64 px. 12 validation
        # subjects so that every AU has positive frontal validation frames to score the critic and
        # choose the edit scale on (8-60 per AU; 6 subjects gave one AU04 frame); 30 test subjects
        # (480 frames per view), as fera_medium, so the report's subject-bootstrap intervals are
        # about half as wide as with 10. Subjects are drawn per (split, index): no split's frames
        # depend on another split's count.
        SynthConfig(name="fera_demo_large", subjects={"train": 45, "validation": 12, "test": 30},
                    sessions=4, frames=4, frame_stride=45, image_size=64, uv_size=64,
                    **{**fera, "poses": FERA_POSES[3:6]}),
        # The ':medium' experiments' set: fera_demo_large's views and spacing with twice the training
        # subjects and three times the test subjects (30 x 30 frames per view: ICC differences of a few
        # hundredths resolvable): 90/15/30 subjects x 6 sessions x 5 frames x 3 views = 12,150 images.
        SynthConfig(name="fera_medium", subjects={"train": 90, "validation": 15, "test": 30},
                    sessions=6, frames=5, frame_stride=45, image_size=64, uv_size=64,
                    **{**fera, "poses": FERA_POSES[3:6]}),
    )}


CONFIGS = _configs()


def get_config(name: str) -> SynthConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"Unknown SynthFACS config {name!r}; known: {sorted(CONFIGS)}.") from None


# ----------------------------------------------------------------------------------------------
# Per-sequence scene sampling.

LIGHT_STYLES = {
    # ambient range, directional range, azimuth range (deg), elevation range (deg), warmth range
    "studio": ((0.30, 0.45), (0.55, 0.85), (-45, 45), (5, 40), (-0.03, 0.05)),
    "office": ((0.40, 0.55), (0.35, 0.60), (-60, 60), (20, 60), (0.02, 0.10)),
    "flash": ((0.20, 0.40), (0.60, 1.00), (-90, 90), (-10, 30), (-0.02, 0.03)),
}
BACKGROUNDS = {
    "dark": ((0.01, 0.06), 0.3),      # value range, max saturation of the tint
    "room": ((0.15, 0.55), 0.35),
    "grey": ((0.35, 0.65), 0.08),
}


def _srgb_lin(c):
    return np.asarray(albedo.srgb_to_linear(np.clip(c, 0, 1)), np.float32)


def sample_light(style: str, rng: np.random.Generator, azimuth=None) -> dict:
    amb_r, dir_r, az_r, el_r, warm_r = LIGHT_STYLES[style]
    az = np.deg2rad(rng.uniform(*az_r) if azimuth is None else azimuth)
    el = np.deg2rad(rng.uniform(*el_r))
    d = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)], np.float32)
    warm = rng.uniform(*warm_r)
    tint = np.array([1 + warm, 1.0, 1 - warm], np.float32)
    return {"ambient": (rng.uniform(*amb_r) * tint * np.array([0.95, 1.0, 1.08])).astype(np.float32),
            "light_dir": d, "light_color": (rng.uniform(*dir_r) * tint).astype(np.float32),
            "specular": np.float32(rng.uniform(0.03, 0.09))}


def sample_background(style: str, rng: np.random.Generator) -> dict:
    (lo, hi), sat = BACKGROUNDS[style]
    base = rng.uniform(lo, hi)
    tint = 1 + rng.uniform(-sat, sat, 3)
    top = np.clip(base * tint, 0, 1)
    bottom = np.clip(top * rng.uniform(0.5, 1.1), 0, 1)
    return {"bg_top": _srgb_lin(top), "bg_bottom": _srgb_lin(bottom)}


def camera(config: SynthConfig, yaw_deg, pitch_deg, roll_deg, rng: np.random.Generator,
           jitter=True) -> dict:
    """Weak-perspective camera: rotation, pixels-per-decimetre scale and translation."""
    size = config.image_size
    scale = size / config.face_size * (rng.uniform(0.95, 1.05) if jitter else 1.0)
    r = rotation_matrix(np.deg2rad(float(yaw_deg)), np.deg2rad(float(pitch_deg)),
                        np.deg2rad(float(roll_deg)), xp=np).astype(np.float32)
    c = r @ np.array([0.0, config.face_centre_y, 0.0], np.float32)
    shift = rng.uniform(-0.03, 0.03, 2) * size if jitter else np.zeros(2)
    t = np.array([size / 2 - scale * c[0], size / 2 + scale * c[1]]) + shift
    return {"rotation": r, "scale": np.float32(scale), "translation": t.astype(np.float32)}


# ----------------------------------------------------------------------------------------------
# Subjects and frames.

@dataclasses.dataclass
class Subject:
    name: str
    index: int
    identity: np.ndarray
    albedo: dict
    shape: model.ShapeParams


def _subject_rng(config: SynthConfig, split: str, index: int) -> np.random.Generator:
    dom = zlib.crc32(config.domain.encode())
    return np.random.default_rng([config.seed, dom, SPLITS.index(split), index])


def subject_name(config: SynthConfig, split: str, index: int) -> str:
    return f"{config.domain}-{split[:2]}{index:03d}"


def make_subject(config: SynthConfig, split: str, index: int) -> Subject:
    asset = load_asset()
    rng = _subject_rng(config, split, index)
    shape = model.sample_shape(rng, asset)
    alb = albedo.sample_albedo(rng, shape.gender, shape.age, shape.ethnicity)
    # A globally unique integer id for the identity/albedo (split-major).
    gid = sum(config.subjects.get(s, 0) for s in SPLITS[:SPLITS.index(split)]) + index
    return Subject(name=subject_name(config, split, index), index=gid,
                   identity=model.identity_offsets(shape, asset), albedo=alb.as_arrays(), shape=shape)


def subject_frames(config: SynthConfig, split: str, index: int) -> list[dict]:
    """Every frame of one subject as render requests + labels (no pixels yet)."""
    subj = make_subject(config, split, index)
    rng = np.random.default_rng([config.seed, 7, SPLITS.index(split), index])
    aus = au_mapping.SIMULATED_AUS
    label_idx = [aus.index(a) for a in config.aus]
    frames = []
    for sess in range(config.sessions):
        light = sample_light(config.light, rng)
        bg = sample_background(config.background, rng)
        if config.posed:
            expr = list(sequences.POSED)[sess % len(sequences.POSED)]
            apex = sequences.posed_intensity(expr, aus, rng)
            inten = np.repeat(apex[None], config.frames, 0)
            seq_name = f"{subj.name}-{expr}"
        else:
            t = config.frames * config.frame_stride
            full, _ = sequences.intensities(config.timeline, aus, t, rng)
            inten = full[::config.frame_stride][:config.frames]
            seq_name = f"{subj.name}-s{sess:02d}"
        if config.all_poses:
            views = list(config.poses)
        else:
            views = [config.poses[int(rng.integers(len(config.poses)))]]
        roll = rng.normal(0, 3.0)
        drift = rng.normal(0, 2.0, (2,))
        for pose_id, yaw, pitch in views:
            # Multi-PIE-like: flashes around the subject, one per frame of the posed session.
            for f in range(config.frames):
                if config.posed:
                    az = -80 + 160 * f / max(config.frames - 1, 1)
                    light_f = sample_light(config.light, np.random.default_rng(
                        [config.seed, 11, SPLITS.index(split), index, sess, f]), azimuth=az)
                else:
                    light_f = light
                wob = np.sin(2 * np.pi * f / 45.0 + drift) * 2.0  # slow head motion (deg)
                cam = camera(config, yaw + wob[0], pitch + wob[1], roll,
                             np.random.default_rng([config.seed, 13, SPLITS.index(split), index, sess]))
                lab = sequences.labels_from_intensity(inten[f])
                frames.append({
                    "subject": subj, "sequence": seq_name if not config.all_poses else
                    f"{seq_name}-p{pose_id}", "frame": f, "pose": (pose_id, yaw, pitch),
                    "intensity": inten[f], "labels": lab[label_idx].astype(np.int32),
                    "intensity_labelled": inten[f][label_idx],
                    "neutral": bool((lab == 0).all()),
                    "scene": {**cam, **light_f, **bg},
                })
    return frames


@functools.lru_cache(maxsize=4)
def _pipeline():
    asset = load_asset()
    return FaceModel(asset), Renderer(asset)


def render_frames(config: SynthConfig, frames: Sequence[dict]) -> list[dict]:
    """Renders frame requests in fixed-size batches; returns one output dict per frame (numpy)."""
    import jax
    import jax.numpy as jnp

    fm, rend = _pipeline()
    out = []
    for start in range(0, len(frames), config.batch_size):
        chunk = list(frames[start:start + config.batch_size])
        n = len(chunk)
        # Pad to a power of two (at most batch_size): few compiled shapes, little wasted work.
        bs = min(config.batch_size, 1 << (n - 1).bit_length())
        chunk = chunk + [chunk[-1]] * (bs - n)
        ident = np.stack([fr["subject"].identity for fr in chunk])
        inten = np.stack([fr["intensity"] for fr in chunk])
        scene = {k: np.stack([fr["scene"][k] for fr in chunk]) for k in chunk[0]["scene"]}
        scene["albedo"] = {k: np.stack([fr["subject"].albedo[k] for fr in chunk])
                           for k in chunk[0]["subject"].albedo}
        vh = fm.vertices(jnp.asarray(ident), jnp.asarray(inten))
        res = rend.render(vh, jnp.asarray(inten), jax.tree_util.tree_map(jnp.asarray, scene),
                          config.image_size, config.image_size, config.supersample, config.uv_size)
        res = jax.tree_util.tree_map(np.asarray, res)
        for i in range(n):
            out.append({k: v[i] for k, v in res.items()})
    return out


def example_dict(config: SynthConfig, fr: dict, rendered: dict) -> dict:
    """The TFDS example (feature name -> numpy value) of one rendered frame."""
    pose_id, yaw, pitch = fr["pose"]
    ex = {
        "image": rendered["image"],
        "au_intensity": fr["labels"],
        "au_intensity_continuous": fr["intensity_labelled"].astype(np.float32),
        "subject": fr["subject"].name,
        "sequence": fr["sequence"],
        "frame": np.int32(fr["frame"]),
        "pose": {"id": np.int32(pose_id), "yaw": np.float32(yaw), "pitch": np.float32(pitch)},
        "vertices": rendered["vertices"].astype(np.float32),
        "landmarks_2d": rendered["landmarks_2d"].astype(np.float32),
        "landmarks_3d": rendered["landmarks_3d"].astype(np.float32),
        "albedo": np.int32(fr["subject"].index),
        "neutral": fr["neutral"],
    }
    if config.uv_size:
        ex["uv_position_map"] = rendered["uv_position_map"].astype(np.float16)
    return ex


def generate_examples(config: SynthConfig | str, split: str, *, subjects: Sequence[int] | None = None,
                      max_frames_per_subject: int | None = None) -> Iterator[tuple[str, dict]]:
    """Yields ``(key, example)`` for a split, rendering subject by subject (deterministic).

    Args:
      config: a :class:`SynthConfig` or its name.
      split: 'train' | 'validation' | 'test'.
      subjects: subject indices to generate (default: all of the split).
      max_frames_per_subject: keep only the first N frame requests of each subject (for tests).
    """
    if isinstance(config, str):
        config = get_config(config)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    n_subj = config.subjects.get(split, 0)
    indices = range(n_subj) if subjects is None else subjects
    for idx in indices:
        if not 0 <= idx < n_subj:
            raise ValueError(f"subject index {idx} outside the {n_subj} subjects of {split}.")

    def flush(pending):
        for fr, rendered in zip(pending, render_frames(config, pending)):
            yield f"{fr['sequence']}-{fr['frame']:05d}", example_dict(config, fr, rendered)

    # Frames of consecutive subjects share batches: full batches, no padding until the very end.
    pending = []
    for idx in indices:
        frames = subject_frames(config, split, idx)
        if max_frames_per_subject is not None:
            frames = frames[:max_frames_per_subject]
        pending += frames
        while len(pending) >= config.batch_size:
            yield from flush(pending[:config.batch_size])
            pending = pending[config.batch_size:]
    if pending:
        yield from flush(pending)
