"""AU timelines (onset-apex-offset episodes with co-occurrence) and per-sequence scene sampling.

Spontaneous expression data are dominated by absent AUs and low intensities. We simulate that with
*expression events* (a smile, a brow raise, talking, ...): each event is an alternating renewal
process (episode, gap, episode, ...) on a 30 fps timeline. An episode has an onset ramp, an apex and an
offset ramp; its apex intensity is skewed low (``0.5 + 4.5 * Beta(a, b)``). Each event drives a set of
co-occurring AUs (AU06+AU12 in a smile, AU01+AU02 in a brow raise, AU04 with AU07, AU17 with
AU15/AU24, ...), each included per episode with a probability and scaled by a relative weight. An AU's
intensity at a frame is the max over active events, plus a little jitter; labels are
:func:`jaxau.au.level_from_intensity` of it.

An event's ``occupancy`` (the long-run fraction of frames inside its episodes) is the configured base
rate; gaps are exponential with mean ``L * (1 - occ) / occ`` for mean episode length L, and a session
starts in the stationary state, so any window of frames has the configured occupancy in expectation.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from jaxau import au as au_lib

FPS = 30

# Event -> {AU: (relative weight, inclusion probability per episode)}.
EVENTS: dict[str, dict[str, tuple[float, float]]] = {
    "smile": {"AU12": (1.0, 1.0), "AU06": (0.8, 0.75), "AU25": (0.5, 0.35), "AU26": (0.4, 0.15),
              "AU10": (0.4, 0.15), "AU14": (0.3, 0.1)},
    "brow_raise": {"AU01": (1.0, 1.0), "AU02": (0.9, 0.9), "AU05": (0.5, 0.2)},
    "frown": {"AU04": (1.0, 1.0), "AU07": (0.7, 0.6), "AU09": (0.4, 0.1)},
    "disgust": {"AU09": (1.0, 1.0), "AU10": (0.8, 0.8), "AU04": (0.5, 0.4), "AU07": (0.5, 0.3),
                "AU17": (0.3, 0.2)},
    "chin_raise": {"AU17": (1.0, 1.0), "AU15": (0.7, 0.5), "AU24": (0.6, 0.4), "AU23": (0.5, 0.25),
                   "AU04": (0.3, 0.15)},
    "sad": {"AU01": (0.8, 0.9), "AU04": (0.7, 0.8), "AU15": (0.9, 0.8), "AU17": (0.5, 0.3)},
    "dimpler": {"AU14": (1.0, 1.0), "AU12": (0.4, 0.3), "AU24": (0.3, 0.2)},
    "lip_stretch": {"AU20": (1.0, 1.0), "AU25": (0.6, 0.6), "AU01": (0.5, 0.3), "AU04": (0.5, 0.3)},
    "talk": {"AU25": (1.0, 1.0), "AU26": (0.7, 0.6), "AU10": (0.3, 0.15)},
    "surprise": {"AU01": (1.0, 1.0), "AU02": (1.0, 1.0), "AU05": (0.8, 0.7), "AU26": (0.9, 0.8),
                 "AU25": (0.8, 0.9)},
    "upper_lip": {"AU10": (1.0, 1.0), "AU25": (0.5, 0.4)},
    "blink": {"AU45": (1.0, 1.0)},
    # Pain (Prkachin & Solomon: brow lowering, orbit tightening, levator contraction, eye closure;
    # eye closure AU43 is not simulated): the UNBC-McMaster shoulder-pain domain.
    "pain": {"AU04": (0.8, 0.7), "AU06": (1.0, 0.85), "AU07": (0.9, 0.8), "AU09": (0.5, 0.3),
             "AU10": (0.6, 0.45), "AU20": (0.3, 0.1), "AU25": (0.4, 0.3), "AU26": (0.3, 0.15)},
}

# Mean onset / apex / offset durations in seconds (blinks are much faster).
DURATIONS = {"default": (0.5, 1.2, 0.7), "blink": (0.07, 0.05, 0.12), "talk": (0.15, 0.6, 0.2)}

# Posed expressions (Multi-PIE style): AU -> apex intensity.
POSED = {
    "neutral": {},
    "smile": {"AU06": 3.0, "AU12": 4.0, "AU25": 2.0},
    "surprise": {"AU01": 4.0, "AU02": 4.0, "AU05": 3.0, "AU25": 4.0, "AU26": 3.5},
    "squint": {"AU06": 2.0, "AU07": 4.0, "AU04": 1.5},
    "disgust": {"AU04": 2.0, "AU09": 4.0, "AU10": 3.5, "AU17": 2.0},
    "scream": {"AU04": 3.0, "AU06": 3.0, "AU07": 3.0, "AU09": 2.0, "AU10": 3.5, "AU20": 3.0,
               "AU25": 5.0, "AU26": 4.5},
}


@dataclasses.dataclass(frozen=True)
class TimelineConfig:
    """Base rates and intensity skew of the simulated AU activity.

    Attributes:
      occupancy: event -> long-run fraction of frames inside an episode of it.
      apex_beta: (a, b) of the apex intensity ``0.5 + 4.5 * Beta(a, b)``; a < b skews it low.
      jitter: std of the per-frame intensity noise on active AUs.
    """

    occupancy: Mapping[str, float]
    apex_beta: tuple[float, float] = (1.3, 2.6)
    jitter: float = 0.12

    def __post_init__(self):
        bad = [e for e in self.occupancy if e not in EVENTS]
        if bad:
            raise ValueError(f"TimelineConfig.occupancy: unknown events {bad}; known: {list(EVENTS)}.")
        out = [e for e, o in self.occupancy.items() if not 0.0 <= o < 1.0]
        if out:
            raise ValueError(f"TimelineConfig.occupancy of {out} must lie in [0, 1).")


def _durations(event, rng, n=None):
    mu = np.array(DURATIONS.get(event, DURATIONS["default"])) * FPS
    d = mu * rng.lognormal(0.0, 0.35, size=(3,) if n is None else (n, 3))
    return np.maximum(np.round(d), 1).astype(int)


def mean_episode_frames(event) -> float:
    """Expected episode length in frames (lognormal mean of the three phases)."""
    mu = np.array(DURATIONS.get(event, DURATIONS["default"])) * FPS
    # E[round(max(x,1))] ~ E[x] for these durations; lognormal mean is mu * exp(s^2/2).
    return float(np.sum(np.maximum(mu * np.exp(0.35 ** 2 / 2), 1.0)))


def simulate_events(cfg: TimelineConfig, num_frames: int, rng: np.random.Generator):
    """Simulates every event's episodes over ``num_frames`` 30 fps frames.

    Returns:
      dict event -> list of (start, onset, apex, offset, apex_intensity, {AU: weight}) episodes
      (``start`` may be negative: the session begins inside an episode).
    """
    out = {}
    for ev in sorted(cfg.occupancy):
        occ = cfg.occupancy[ev]
        eps = []
        if occ <= 0:
            out[ev] = eps
            continue
        mean_len = mean_episode_frames(ev)
        mean_gap = mean_len * (1 - occ) / occ
        # Stationary start: inside an episode with probability occ, at a uniform phase.
        if rng.random() < occ:
            d = _durations(ev, rng)
            t = -int(rng.integers(0, d.sum()))
        else:
            d = None
            t = int(rng.exponential(mean_gap))
        while t < num_frames:
            if d is None:
                d = _durations(ev, rng)
            peak = 0.5 + 4.5 * rng.beta(*cfg.apex_beta)
            # Per-episode member weights vary (+-) so secondary AUs can still reach level E.
            members = {a: float(min(w * rng.uniform(0.85, 1.3), 1.0))
                       for a, (w, p) in EVENTS[ev].items() if rng.random() < p}
            eps.append((t, int(d[0]), int(d[1]), int(d[2]), float(peak), members))
            t += int(d.sum()) + int(rng.exponential(mean_gap))
            d = None
        out[ev] = eps
    return out


def _envelope(t, start, on, ap, off):
    x = t - start
    rise = np.clip(x / on, 0, 1)
    fall = np.clip((on + ap + off - x) / off, 0, 1)
    e = np.minimum(rise, fall)
    return e * e * (3 - 2 * e)  # smoothstep: slow start and finish like real muscle activity


def intensities(cfg: TimelineConfig, aus, num_frames: int, rng: np.random.Generator,
                events=None):
    """Continuous AU intensities ``[num_frames, K]`` in [0, 5] and per-frame event activity.

    Returns:
      (intensity [T, K] float32, active [T, E] bool over ``sorted(cfg.occupancy)``).
    """
    aus = tuple(aus)
    events = simulate_events(cfg, num_frames, rng) if events is None else events
    t = np.arange(num_frames, dtype=np.float64)
    inten = np.zeros((num_frames, len(aus)))
    names = sorted(cfg.occupancy)
    active = np.zeros((num_frames, len(names)), bool)
    for j, ev in enumerate(names):
        for start, on, ap, off, peak, members in events[ev]:
            inside = (t >= start) & (t < start + on + ap + off)
            active[:, j] |= inside
            env = _envelope(t, start, on, ap, off)
            for a, w in members.items():
                if a in aus:
                    k = aus.index(a)
                    inten[:, k] = np.maximum(inten[:, k], w * peak * env)
    noise = rng.normal(0.0, cfg.jitter, inten.shape)
    inten = np.where(inten > 0.05, np.clip(inten + noise, 0.0, 5.0), 0.0)
    return inten.astype(np.float32), active


def labels_from_intensity(inten) -> np.ndarray:
    """Integer labels 0..5 (FACS 0, A..E) from continuous intensities."""
    return au_lib.level_from_intensity(inten)


def posed_intensity(expression: str, aus, rng: np.random.Generator) -> np.ndarray:
    """Apex intensities ``[K]`` of a posed expression, jittered by +-0.4."""
    if expression not in POSED:
        raise KeyError(f"Unknown posed expression {expression!r}; known: {list(POSED)}.")
    out = np.zeros(len(aus), np.float32)
    for a, v in POSED[expression].items():
        if a in aus:
            out[list(aus).index(a)] = np.clip(v + rng.uniform(-0.4, 0.4), 0.0, 5.0)
    return out
