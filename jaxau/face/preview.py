"""Contact sheets and label statistics for SynthFACS (library code behind launch/preview_synthfacs.py).

Sheets (PNG): identities x AUs x levels (one row per AU, 0 and A..E per identity), the configured
head poses, and a sequence strip with its labels. Statistics: per-AU per-level label frequencies of a
split, as a Markdown table and a stacked-bar plot.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from jaxau import au as au_lib
from jaxau.face import au_mapping, synth, sequences

SHEET_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
             "AU17", "AU20", "AU23", "AU24", "AU25", "AU26")


def _label(img, text, scale=0.4):
    import cv2

    img = np.array(img, copy=True)  # rendered arrays are read-only views
    cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def _grid(tiles: Sequence[np.ndarray], cols: int) -> np.ndarray:
    h, w, _ = tiles[0].shape
    rows = (len(tiles) + cols - 1) // cols
    out = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = t
    return out


def _frame(config, subject, intensity, yaw=0.0, pitch=0.0, seed=0):
    rng = np.random.default_rng([config.seed, 99, seed])
    light = {"ambient": np.array([0.36, 0.37, 0.40], np.float32),
             "light_dir": np.array([0.35, 0.45, 0.82], np.float32),
             "light_color": np.array([0.72, 0.70, 0.66], np.float32), "specular": np.float32(0.06)}
    bg = {"bg_top": np.array([0.20, 0.22, 0.26], np.float32),
          "bg_bottom": np.array([0.05, 0.05, 0.06], np.float32)}
    cam = synth.camera(config, yaw, pitch, 0.0, rng, jitter=False)
    return {"subject": subject, "intensity": np.asarray(intensity, np.float32),
            "scene": {**cam, **light, **bg}}


def au_level_sheet(config: synth.SynthConfig, subjects: Sequence[int] = (0, 1), tile: int = 160,
                   aus: Sequence[str] = SHEET_AUS) -> np.ndarray:
    """Rows = AUs, columns = levels 0, A..E for each identity (frontal, fixed neutral lighting)."""
    cfg = dataclasses.replace(config, image_size=tile, face_size=1.7, face_centre_y=-0.3,
                              uv_size=0, batch_size=16)
    subs = [synth.make_subject(cfg, "train", i) for i in subjects]
    sim = au_mapping.SIMULATED_AUS
    frames, names = [], []
    for a in aus:
        for s in subs:
            for level in range(6):
                inten = np.zeros(len(sim), np.float32)
                inten[sim.index(a)] = level
                frames.append(_frame(cfg, s, inten))
                names.append(f"{a} {au_lib.LEVEL_NAMES[level]}")
    out = synth.render_frames(cfg, frames)
    tiles = [_label(o["image"], n) for o, n in zip(out, names)]
    return _grid(tiles, 6 * len(subs))


def pose_sheet(config: synth.SynthConfig, subjects: Sequence[int] = (0, 1, 2), tile: int = 128,
               expression: str = "smile") -> np.ndarray:
    """Each identity (rows) in every configured pose (columns), with a posed expression."""
    cfg = dataclasses.replace(config, image_size=tile, uv_size=0, batch_size=16)
    poses = cfg.poses if len(cfg.poses) > 1 else synth.FERA_POSES
    frames, names = [], []
    for i in subjects:
        s = synth.make_subject(cfg, "train", i)
        inten = sequences.posed_intensity(expression, au_mapping.SIMULATED_AUS,
                                          np.random.default_rng(i))
        for pid, yaw, pitch in poses:
            frames.append(_frame(cfg, s, inten, yaw, pitch))
            names.append(f"pose {pid} ({yaw:+.0f},{pitch:+.0f})")
    out = synth.render_frames(cfg, frames)
    return _grid([_label(o["image"], n, 0.33) for o, n in zip(out, names)], len(poses))


def sequence_strip(config: synth.SynthConfig, split: str = "train", subject: int = 0,
                   frames: int = 12, tile: int = 128) -> np.ndarray:
    """Consecutive frames of one session with their non-zero labels printed under each frame."""
    import cv2

    cfg = dataclasses.replace(config, image_size=tile, uv_size=0, batch_size=16, all_poses=False,
                              poses=((0, 0.0, 0.0),), frames=max(frames, 1))
    reqs = synth.subject_frames(cfg, split, subject)[:frames]
    out = synth.render_frames(cfg, reqs)
    tiles = []
    for r, o in zip(reqs, out):
        lab = [f"{a[2:]}:{au_lib.LEVEL_NAMES[v]}" for a, v in zip(cfg.aus, r["labels"]) if v > 0]
        panel = np.full((tile + 40, tile, 3), 255, np.uint8)
        panel[:tile] = o["image"]
        for k in range(0, len(lab), 3):
            cv2.putText(panel, " ".join(lab[k:k + 3]), (2, tile + 12 + 12 * (k // 3)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(_label(panel, f"f{r['frame']}"))
    return _grid(tiles, len(tiles))


def label_statistics(config: synth.SynthConfig, split: str = "train",
                     max_subjects: int | None = None) -> np.ndarray:
    """``[K, 6]`` fraction of examples at each level per labelled AU (no rendering needed)."""
    n = config.subjects.get(split, 0) if max_subjects is None else min(
        max_subjects, config.subjects.get(split, 0))
    counts = np.zeros((len(config.aus), 6))
    for i in range(n):
        for fr in synth.subject_frames(config, split, i):
            counts[np.arange(len(config.aus)), fr["labels"]] += 1
    return counts / max(counts[0].sum(), 1)


def statistics_markdown(config: synth.SynthConfig, freq: np.ndarray) -> str:
    head = "| AU | " + " | ".join(au_lib.LEVEL_NAMES) + " | present |\n|---|" + "---|" * 7 + "\n"
    rows = [f"| {a} | " + " | ".join(f"{100 * f:.1f}" for f in row) + f" | {100 * (1 - row[0]):.1f} |"
            for a, row in zip(config.aus, freq)]
    return f"Label frequencies (% of frames) for `{config.name}`\n\n" + head + "\n".join(rows) + "\n"


def statistics_plot(config: synth.SynthConfig, freq: np.ndarray, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    x = np.arange(len(config.aus))
    bottom = np.zeros(len(config.aus))
    for lvl in range(1, 6):
        ax[0].bar(x, 100 * freq[:, lvl], bottom=bottom, label=au_lib.LEVEL_NAMES[lvl])
        bottom += 100 * freq[:, lvl]
    ax[0].set_xticks(x, config.aus, rotation=60)
    ax[0].set_ylabel("% of frames (AU present)")
    ax[0].legend(title="level")
    ax[0].set_title(f"{config.name}: AU base rates by level")
    ax[1].imshow(np.log10(np.maximum(freq, 1e-4)), aspect="auto", cmap="viridis")
    ax[1].set_yticks(x, config.aus)
    ax[1].set_xticks(range(6), au_lib.LEVEL_NAMES)
    ax[1].set_title("log10 frequency per AU x level")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_preview(config_name: str, out_dir: str, seed: int = 0, max_stat_subjects: int | None = 20
                  ) -> dict:
    """Writes every sheet and the statistics for a config into ``out_dir``; returns the paths."""
    import cv2

    config = dataclasses.replace(synth.get_config(config_name), seed=seed)
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for key, img in (("au_levels", au_level_sheet(config)), ("poses", pose_sheet(config)),
                     ("sequence", sequence_strip(config))):
        paths[key] = os.path.join(out_dir, f"{config.name}_{key}.png")
        cv2.imwrite(paths[key], img[:, :, ::-1])
    freq = label_statistics(config, "train", max_stat_subjects)
    paths["stats_md"] = os.path.join(out_dir, f"{config.name}_label_stats.md")
    with open(paths["stats_md"], "w") as f:
        f.write(statistics_markdown(config, freq))
    paths["stats_png"] = os.path.join(out_dir, f"{config.name}_label_stats.png")
    statistics_plot(config, freq, paths["stats_png"])
    return paths
