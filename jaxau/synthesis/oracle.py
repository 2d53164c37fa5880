"""Oracle renders: SynthFACS source frames re-rendered exactly with a target frame's expression.

A SynthFACS frame is a pure function of its render request (`jaxau.face.synth.subject_frames`:
identity, scene, camera, pose and the 18-AU continuous intensity vector). So for a semantic-resampling
plan entry ``(source frame, target frame)`` the ideal generator output exists: the source's request
with the *target frame's* intensity vector, rendered and then registered exactly as the source frames
were (no registration, 2-D Procrustes or 3-D frontalisation with the same registration network and
alignment settings). Its labels are the target frame's labels by construction.

Frame-set rows are mapped back to render requests through their ``subject`` (``<domain>-<split
code><index>``, `jaxau.face.synth.subject_name`), ``sequence`` and ``frame`` fields; subjects are
regenerated on demand (deterministic from the domain's seed) and cached.

`OracleRenderer` is used by the synthesis stage's fidelity measurement (`jaxau.synthesis.fidelity`)
and by the ``oracle`` stage (the oracle-synthetic training set of ``oracle:<reg>`` columns).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from typing import Any, Sequence

import numpy as np

from jaxau.data import frames as frames_lib
from jaxau.face import sequences, synth
from jaxau.align import exact
from jaxau.align.aligner import Aligner
from jaxau.face import au_mapping
from jaxau.train import prnet as reg_train

SPLIT_CODES = {s[:2]: s for s in synth.SPLITS}
_SUBJECT = re.compile(r"^(?P<domain>[a-z]+)-(?P<code>[a-z]{2})(?P<index>\d+)$")


def synthfacs_config(dataset: str) -> synth.SynthConfig | None:
    """The SynthFACS domain config of a dataset name ``'synthfacs/<config>'``; None for other datasets."""
    name = str(dataset)
    if not name.startswith("synthfacs/"):
        return None
    return synth.get_config(name.split("/", 1)[1])


def require_synthfacs(dataset: str, what: str) -> synth.SynthConfig:
    """`synthfacs_config`, or a ValueError naming the dataset when it is not SynthFACS."""
    config = synthfacs_config(dataset)
    if config is None:
        raise ValueError(f"{what}: dataset {dataset!r} is not SynthFACS; oracle renders need SynthFACS frames "
                         "(their render requests are the exact truth), e.g. data.name='synthfacs/fera'.")
    return config


class RequestIndex:
    """Render requests of the frames of one SynthFACS domain, looked up by frame-set fields."""

    def __init__(self, config: synth.SynthConfig):
        self.config = config
        self._subject = functools.lru_cache(maxsize=64)(self._subject_requests)

    def _subject_requests(self, subject: str) -> dict[tuple[str, int], dict]:
        m = _SUBJECT.match(subject)
        if m is None or m["domain"] != self.config.domain or m["code"] not in SPLIT_CODES:
            raise KeyError(f"subject {subject!r} is not a {self.config.name!r} SynthFACS subject "
                           f"('{self.config.domain}-<tr|va|te><index>').")
        frames = synth.subject_frames(self.config, SPLIT_CODES[m["code"]], int(m["index"]))
        return {(fr["sequence"], int(fr["frame"])): fr for fr in frames}

    def request(self, subject: str, sequence: str, frame: int) -> dict:
        """The render request of one frame (KeyError when the domain has no such frame)."""
        requests = self._subject(str(subject))
        try:
            return requests[(str(sequence), int(frame))]
        except KeyError:
            raise KeyError(f"{self.config.name}: no frame {subject}/{sequence}/{frame}; the frame set does not "
                           f"come from synthfacs/{self.config.name}.") from None

    def rows(self, frames: frames_lib.FrameSet, rows: Sequence[int]) -> list[dict]:
        """Requests of frame-set rows."""
        return [self.request(frames["subject"][i], frames["sequence"][i], frames["frame"][i]) for i in rows]


# Which expression changes a partial oracle scales (`with_expression`).
DIRECTIONS = ("both", "up", "down")


def with_expression(source: dict, target: dict, label_aus: Sequence[str],
                    expression_aus: Sequence[str] | None = None, strength: float = 1.0,
                    direction: str = "both") -> dict:
    """``source``'s request showing ``target``'s expression.

    Args:
      source: a render request (identity, scene, pose kept).
      target: the request whose ``intensity`` is used.
      label_aus: the AU columns of the returned ``labels`` (the source domain's labelled AUs).
      expression_aus: the AUs taken from ``target``; None takes its whole 18-AU intensity vector, a
        list (e.g. the generator's AU columns) keeps the source's intensity for every other AU: the
        image a generator told only these AUs could produce at best.
      strength: the share of the expression change drawn: the rendered intensities are
        ``source + strength * (target - source)`` (1: the target's; 0.4: a faint edit, like a
        generator that draws 40 % of the change; above 1 an exaggerated one, clipped to the FACS
        range [0, 5]). The returned ``labels`` are the rendered intensities' levels; a faint-edit
        set keeps the *target's* labels (`OracleRenderer.oracle` callers label by the plan).
      direction: which changes ``strength`` scales: ``'both'``; ``'up'`` only the AUs the target
        raises (the expression drawn in), the lowered ones changed fully; ``'down'`` only the AUs it
        lowers (the source's own expression taken out), the raised ones changed fully.
    """

    intensity = np.asarray(target["intensity"], np.float32)
    if expression_aus is not None:
        take = [au_mapping.SIMULATED_AUS.index(a) for a in expression_aus]
        mixed = np.array(source["intensity"], np.float32, copy=True)
        mixed[take] = intensity[take]
        intensity = mixed
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: use one of {DIRECTIONS}.")
    if strength != 1.0:
        start = np.asarray(source["intensity"], np.float32)
        change = intensity - start
        scaled = {"both": np.ones(change.shape, bool), "up": change > 0, "down": change < 0}[direction]
        factor = np.where(scaled, np.float32(strength), np.float32(1.0))
        # Over-drawn changes (strength > 1) saturate at the FACS range's ends (absent, level E).
        intensity = np.clip(start + factor * change, 0.0, 5.0).astype(np.float32)
    labels = sequences.labels_from_intensity(intensity)
    idx = [au_mapping.SIMULATED_AUS.index(a) for a in label_aus]
    return {**source, "intensity": intensity, "labels": labels[idx].astype(np.int32),
            "intensity_labelled": intensity[idx], "neutral": bool((labels == 0).all())}


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` images blurred by a separable Gaussian of ``sigma`` pixels (radius
    ``ceil(3 sigma)``, borders mirrored without repeating the edge pixel), rounded back to uint8.

    A degraded oracle's texture loss: a generator that blurs what it redraws (`run_oracle`'s
    ``oracle.blur``).
    """
    images = np.asarray(images)
    if sigma <= 0:
        return images
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = images.astype(np.float64)
    for axis in (1, 2):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        n = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + n), axis=axis) for i, w in enumerate(taps))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@dataclasses.dataclass
class Registered:
    """Rendered and registered frames: ``image`` uint8 ``[N, S, S, 3]``, ``face`` bool ``[N, S, S]``
    (the head's coverage, registered like the image) and ``ok`` ``[N]`` (registration accepted)."""

    image: np.ndarray
    face: np.ndarray
    ok: np.ndarray


class OracleRenderer:
    """Renders render requests and registers them exactly as a registration stage registers frames.

    Args:
      config: the experiment config seen by the frames' stage (``data``, ``align``, ``align2d``,
        ``align3d``): ``data.name`` must be SynthFACS.
      registration: ``'raw'``, ``'2d'`` or ``'3d'``.
      registration_dir: the registration network (stage directory); needed for 2d / 3d.
      synth_config: the SynthFACS domain (default: the one ``config.data.name`` names).
    """

    def __init__(self, config: Any, registration: str, registration_dir: str | None = None,
                 synth_config: synth.SynthConfig | None = None):
        self.synth = synth_config or require_synthfacs(config.data.name, "oracle renders")
        self.size = int(config.data.image_size)
        self.registration = registration
        self.index = RequestIndex(self.synth)
        self.aligner = None
        if registration in ("2d", "3d"):
            if not registration_dir:
                raise ValueError(f"oracle renders with {registration} registration need the registration "
                                 "network's directory.")

            batch_size = int(config.align.batch_size)
            if str(config.align.registration) == "exact":
                # Registered with the renders' own true meshes, as the exactly registered sources were.
                registrar = exact.ExactRegistrar(self.synth, batch_size=batch_size)
            else:
                registrar = reg_train.load_registrar(registration_dir, batch_size=batch_size)
            self.aligner = Aligner(config, registration, registrar)
        elif registration != "raw":
            raise ValueError(f"registration {registration!r}: use 'raw', '2d' or '3d'.")

    def render(self, requests: Sequence[dict], chunk: int = 256) -> Registered:
        """Renders and registers requests (in chunks of ``chunk``)."""
        parts = []
        for lo in range(0, len(requests), chunk):
            parts.append(self._render(list(requests[lo:lo + chunk])))
            if len(requests) > chunk:
                logging.info("oracle renders: %d of %d", min(lo + chunk, len(requests)), len(requests))
        if not parts:
            s = self.size
            return Registered(np.zeros((0, s, s, 3), np.uint8), np.zeros((0, s, s), bool), np.zeros(0, bool))
        return Registered(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in ("image", "face", "ok")))

    def _render(self, requests: list[dict]) -> Registered:
        rendered = synth.render_frames(self.synth, requests)
        images = np.stack([r["image"] for r in rendered]).astype(np.uint8)
        # The head's coverage as an image, warped with the same geometry as the frame.
        masks = np.stack([r["mask"] for r in rendered]).astype(np.float32)
        mask_images = np.repeat(np.clip(np.rint(masks * 255.0), 0, 255).astype(np.uint8)[..., None], 3, -1)
        if self.aligner is None:
            out, face = _resize(images, self.size), _resize(mask_images, self.size)
            ok = np.ones(len(images), bool)
        else:
            landmarks = np.stack([r["landmarks_2d"] for r in rendered]).astype(np.float32)
            out, ok, _, res = self.aligner({"image": images, "landmarks_2d": landmarks,
                                            "vertices": np.stack([r["vertices"] for r in rendered])})
            face = self.aligner.align(mask_images, res)
        return Registered(out, face[..., 0] >= 128, ok)

    def sources(self, frames: frames_lib.FrameSet, rows: Sequence[int]) -> Registered:
        """The source frames re-rendered as they are (a check that the frame set is reproduced)."""
        return self.render(self.index.rows(frames, rows))

    def oracle(self, sources: frames_lib.FrameSet, source_rows: Sequence[int], targets: frames_lib.FrameSet,
               target_rows: Sequence[int], target_index: RequestIndex | None = None,
               expression_aus: Sequence[str] | None = None, strength: float = 1.0,
               direction: str = "both") -> Registered:
        """Each source row re-rendered with the expression of the matching target row.

        Args:
          sources: the source frame set (SynthFACS frames of ``config.data``).
          source_rows: rows of ``sources``.
          targets: the frame set whose rows give the expressions (may be ``sources``).
          target_rows: rows of ``targets``, one per source row.
          target_index: the requests of ``targets``' domain (default: the sources' domain).
          expression_aus: AUs taken from the target (`with_expression`); None: all 18.
          strength, direction: the share of the expression change drawn and which changes it
            scales (`with_expression`).
        """
        if len(source_rows) != len(target_rows):
            raise ValueError(f"{len(source_rows)} source rows but {len(target_rows)} target rows.")
        tindex = target_index or self.index
        aus = self.synth.aus
        pairs = zip(self.index.rows(sources, source_rows), tindex.rows(targets, target_rows))
        requests = [with_expression(s, t, aus, expression_aus, strength, direction) for s, t in pairs]
        return self.render(requests)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """The unregistered frames' resize (`jaxau.data.frames.load_tfds`: area, antialiased, rounded)."""
    import tensorflow as tf

    out = tf.image.resize(images, (size, size), method="area", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8).numpy()
