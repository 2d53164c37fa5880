"""Training the GANimation expression generator with the idiosyncratic loss (paper Sec. 3.2, Table S4).

Data. Training examples are frames of a frame set (`jaxau.data.frames`: registered frames, or raw
frontal SynthFACS frames). Each example is paired on the host with a *partner*: another frame of the
same subject, drawn from ``(seed, step, position)``. The partner's AU vector (/5, plus U(-0.1, 0.1)
noise) is the target expression, and the partner image is ``I_{y_t}`` of the idiosyncratic loss
(Eq. 4). A subject with a single frame gets a partner from any subject and its idiosyncratic term is
masked out. With ``own_fraction`` > 0 (not in GANimation) that share of each batch is partnered with
itself: the target is the frame's own AU vector without noise and the idiosyncratic L1 asks
``G(I | y_I) = I``, a generator that leaves an expression already there as it is. Targets always
come from same-subject partners, with or without the idiosyncratic loss, so that switching
``lambda_ids`` to 0 changes only the loss (the ablation compares like with like); the target
distribution is still that of real frames, as in the replicate's in-batch shuffle.

Steps. Every iteration updates D; iterations with ``step % n_critic == 0`` also update G against the
updated D (`jaxau.train.gan_steps`). The two cases are two compiled data-parallel functions
dispatched on the host, so D-only iterations never build the generator backward graph. The host keeps
the iteration counter (read once from the restored state), so dispatch costs no device sync. D-only
steps report the most recent G metrics (device arrays, no sync) so every logged row has every key.

Model directory. ``generator.json`` (settings, AU names) next to ``checkpoints/`` (the whole
:class:`jaxau.train.gan_steps.GANState`); `load_generator` returns the generator and its
parameters for synthesis. Image grids (sources x per-AU intensity sweeps 0..5, and attention masks)
go to TensorBoard and ``grids/step_XXXXXXX_{faces,attention}.png``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from typing import Any, Mapping

import jax
import numpy as np

from jaxau import au as au_lib, io_utils
from jaxau.data import balance, frames as frames_lib, resolve
from jaxau.models import ganimation
from jaxau.train import checkpoint as checkpoint_lib, gan_steps, input as input_lib
from jaxau.train import loop, metrics as metrics_lib, parallel
from jaxau.train.gan_losses import MAX_INTENSITY, LossWeights
from jaxau.evaluation import metrics as eval_metrics
from jaxau import batching

MODEL_FILE = "generator.json"
LEVELS = 6  # AU intensity levels 0..5.

# Defaults: the paper / replicate hyper-parameters at 128 x 128 (Table S4 variants via the fields
# ``attention`` (GANimation vs StarGAN-style generator) and ``lambda_ids`` (0 disables Eq. 4)).
DEFAULTS = {
    "image_size": 128, "g_width": 64, "g_blocks": 6, "d_width": 64, "d_layers": 6,
    "attention": True, "composite": "mask_source", "au_conditioning": "input", "upsample": "transpose",
    "attention_offset": 0.0, "conditioning": "absolute",
    "partners": "subject", "flip": False, "sampling": "frames",
    "critic_warmup": 0, "critic_warmup_loss": "full", "eval_every": 0,
    "batch_size": 24, "num_steps": 1000, "decay_steps": -1,  # -1: the last third decays linearly.
    "n_critic": 5, "learning_rate": 1e-4, "d_learning_rate": 0.0, "b1": 0.5, "b2": 0.999,
    "lambda_adv": 1.0, "lambda_gp": 10.0, "lambda_exp": 160.0, "lambda_idt": 10.0, "lambda_ids": 1.0,
    "lambda_mask": 0.0, "lambda_tv": 0.0, "lambda_exp_smooth": 0.0, "critic_exp_factor": 1.0,
    "critic_fake_exp": 0.0, "lambda_exp_frozen": 0.0,
    "d_augment_shift": 0, "target_noise": 0.1, "own_fraction": 0.0,
    "checkpoint_every": 500, "log_every": 20, "grid_every": 0, "grid_sources": 3,
}


# Settings that shape the checkpointed GANState (both networks and their optimizers).
STATE_KEYS = ("image_size", "g_width", "g_blocks", "d_width", "d_layers", "attention", "composite",
              "au_conditioning", "upsample", "attention_offset", "conditioning")


def settings(cfg: Mapping[str, Any] | None) -> dict:
    """``DEFAULTS`` updated by ``cfg`` (a config section or dict); unknown keys are an error."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULTS) - {"frames", "max_frames"})
    if unknown:
        raise ValueError(f"config.generator has unknown fields {unknown}; known: {sorted(DEFAULTS)}.")
    out = dict(DEFAULTS)
    out.update({k: v for k, v in cfg.items() if k in DEFAULTS})
    return out


def _decay_steps(s: Mapping[str, Any]) -> int:
    return int(s["num_steps"]) // 3 if int(s["decay_steps"]) < 0 else int(s["decay_steps"])


def modules(s: Mapping[str, Any], num_aus: int) -> tuple[ganimation.Generator, ganimation.Discriminator]:
    """The generator and critic a settings dict describes."""
    g = ganimation.Generator(conv_dim=int(s["g_width"]), num_blocks=int(s["g_blocks"]),
                             attention=bool(s["attention"]), composite=str(s["composite"]),
                             au_conditioning=str(s["au_conditioning"]), upsample=str(s["upsample"]),
                             attention_offset=float(s["attention_offset"]),
                             conditioning=str(s["conditioning"]))
    d = ganimation.Discriminator(num_aus=num_aus, image_size=int(s["image_size"]),
                                 conv_dim=int(s["d_width"]), num_layers=int(s["d_layers"]))
    return g, d


def loss_weights(s: Mapping[str, Any]) -> LossWeights:
    return LossWeights(adv=float(s["lambda_adv"]), gp=float(s["lambda_gp"]), exp=float(s["lambda_exp"]),
                       idt=float(s["lambda_idt"]), ids=float(s["lambda_ids"]),
                       mask=float(s["lambda_mask"]), tv=float(s["lambda_tv"]),
                       exp_smooth=float(s["lambda_exp_smooth"]),
                       critic_exp_factor=float(s["critic_exp_factor"]),
                       critic_fake_factor=float(s["critic_fake_exp"]),
                       exp_frozen=float(s["lambda_exp_frozen"]))


def optimizer_config(s: Mapping[str, Any]) -> gan_steps.OptimizerConfig:
    decay = _decay_steps(s)
    # G's schedule counts its own updates, which start after the critic warm-up.
    return gan_steps.OptimizerConfig(lr=float(s["learning_rate"]), b1=float(s["b1"]), b2=float(s["b2"]),
                                     constant_iterations=max(int(s["num_steps"]) - decay, 0),
                                     decay_iterations=decay, n_critic=int(s["n_critic"]),
                                     g_delay=int(s["critic_warmup"]),
                                     d_lr=float(s["d_learning_rate"]))


@functools.lru_cache(maxsize=8)
def _static_parts(key: tuple, num_aus: int) -> tuple:
    s = dict(key)
    g, d = modules(s, num_aus)
    g_tx, d_tx = gan_steps.make_optimizers(optimizer_config(s))
    return g, d, g_tx, d_tx


def init_state(s: Mapping[str, Any], num_aus: int, seed: int) -> gan_steps.GANState:
    """A fresh GANState (unreplicated).

    The flax TrainStates carry ``apply_fn`` and ``tx`` as static pytree data, and jit keys its cache
    on them: states built with fresh module/optimizer objects would recompile the (expensive, WGAN-GP
    double backward) steps on every run. Identical settings therefore share one set of objects.
    """
    g, d, g_tx, d_tx = _static_parts(_hashable(s), num_aus)
    state = gan_steps.create_gan_state(jax.random.key(seed), g, d, int(s["image_size"]), num_aus,
                                       optimizer_config(s), with_frozen_critic=float(s["lambda_exp_frozen"]) > 0)
    return state.replace(g=state.g.replace(apply_fn=g.apply, tx=g_tx),
                         d=state.d.replace(apply_fn=d.apply, tx=d_tx))


# ------------------------------------------------------------------------------------------- data
class PairedSource:
    """Deterministic GAN batches: step -> sources, same-subject partners, noisy target AUs.

    Args:
      frames: frame set with images at the generator's size.
      global_batch_size: examples per step over all processes.
      seed: data seed.
      target_noise: half-width of the uniform noise added to the partner's AUs (0.1).
      with_target_image: include ``target_image``/``target_image_mask`` (idiosyncratic loss).
      flip: mirror half of the examples left-right, each source with its partner (the same edit
        seen mirrored; AU labels are bilateral, so they stay).
      process_index, process_count: this process's contiguous share of each global batch.
      sampling: ``'frames'`` (every frame once per epoch, as GANimation), ``'balanced'`` (an epoch
        of frames drawn with `balance.level_weights`, every AU's levels about equally likely, so the
        critic's AU head sees the rare levels as often as the common ones) or ``'pairs'`` (an epoch
        of as many draws as there are ordered (source, partner) pairs in the partner groups
        (`partner_pairs`), drawn with `balance.level_weights` of each pair's *change* ``|l_partner -
        l_source|``: every AU's change levels about equally likely, so a rare AU's edit is paired
        with its exact target about as often as a common one's; a frame alone in its group is never
        drawn).
      own_fraction: probability that an example is its own partner: target = its own AUs (no
        noise), target image = itself, mask 1. Drawn from its own stream, so batches at 0 are
        those without the option.
    """

    def __init__(self, frames: frames_lib.FrameSet, global_batch_size: int, seed: int, *,
                 target_noise: float = 0.1, with_target_image: bool = True, process_index: int = 0,
                 process_count: int = 1, partners: str = "subject", flip: bool = False,
                 sampling: str = "frames", own_fraction: float = 0.0,
                 exact: "ExactPartners | None" = None):
        if (partners == "oracle") != (exact is not None):
            raise ValueError("generator partners='oracle' pairs each frame with exact renders of its own scene "
                             "showing the partner's expression: pass them (exact=, built by the generator stage "
                             "from SynthFACS frames), and pass none with other partners.")
        self.exact = exact
        self.own_fraction = own_share(own_fraction)
        self.images = frames["image"]
        labels = np.asarray(frames["au_intensity"])
        # Unknown labels (-1) condition G with 0 and are masked out of D's expression loss.
        self.valid = labels >= 0
        self.aus = np.where(self.valid, labels, 0).astype(np.float32) / MAX_INTENSITY
        if sampling not in SAMPLING:
            raise ValueError(f"generator sampling={sampling!r} must be one of {SAMPLING}.")
        self.seed = seed
        self.noise = float(target_noise)
        self.with_target_image = with_target_image
        self.flip = bool(flip)
        self.per_process = global_batch_size // process_count
        self.lo = process_index * self.per_process
        _, self.group, counts = np.unique(partner_groups(frames, partners), return_inverse=True,
                                          return_counts=True)
        order = np.argsort(self.group, kind="stable")
        self.members = order                                    # frames grouped by subject
        self.start = np.concatenate([[0], np.cumsum(counts)])[self.group]
        self.count = counts[self.group]
        self.rank = np.empty(len(order), np.int64)
        self.rank[order] = np.arange(len(order)) - np.concatenate([[0], np.cumsum(counts)])[self.group[order]]
        self.pairs = None
        if exact is not None:
            if not len(exact.sources):
                raise ValueError(f"generator partners='oracle': none of these {len(self.images)} frames shares its "
                                 "sequence or subject with another, so there is no pair to render: use "
                                 "partners='sequence'.")
            # Every source draws its partner among its rendered pairs (sorted by source).
            order = np.lexsort((exact.partners, exact.sources))
            self.exact = exact = ExactPartners(*(np.asarray(getattr(exact, f))[order]
                                                 for f in ("sources", "partners", "image", "ok")))
            pair_counts = np.bincount(exact.sources, minlength=len(self.images))
            self.pair_start = np.concatenate([[0], np.cumsum(pair_counts)])[:-1]
            self.pair_count = pair_counts
        if sampling == "pairs":
            self.pairs = partner_pairs(self.group, seed) if exact is None else (exact.sources, exact.partners)
            if not len(self.pairs[0]):
                raise ValueError("generator sampling='pairs' needs partner groups with two or more frames; "
                                 f"every frame of these {len(self.images)} is alone in its group: use "
                                 "sampling='frames'.")
            pool = balance.weighted_pool(pair_changes(labels, *self.pairs), seed)
        elif sampling == "balanced":
            pool = balance.weighted_pool(labels, seed)
        else:
            pool = np.arange(len(self.images))
        self.sampler = input_lib.StepSampler(pool, global_batch_size, seed,
                                             process_index=process_index, process_count=process_count)

    def change_shares(self, au_names: list[str]) -> dict[str, dict[str, float]]:
        """Per AU, the share of an epoch's paired examples whose partner's level differs from the
        source's by >= 1 and >= 2 levels: how often the idiosyncratic L1 shows G an edit of that AU.

        For ``sampling='pairs'`` the epoch pool's pairs; with exact partners each pooled source's
        partner is uniform over its rendered pairs; otherwise over the other frames of its group,
        counted exactly from the group's level histogram. Examples without a partner (alone in their group) and ``own_fraction``'s
        self-pairs are left out; a pair with an unknown label counts as unchanged in that AU.
        """
        labels = np.where(self.valid, np.rint(self.aus * MAX_INTENSITY), -1).astype(np.int64)
        shares = {}
        if self.pairs is not None or self.exact is not None:
            if self.pairs is not None:
                pairs = self.pairs
                weight = np.bincount(self.sampler.pool, minlength=len(self.pairs[0])).astype(np.float64)
            else:   # each pooled source's partner uniform over its rendered pairs
                pairs = (self.exact.sources, self.exact.partners)
                per_source = np.bincount(self.sampler.pool, minlength=len(self.images)).astype(np.float64)
                weight = per_source[pairs[0]] / self.pair_count[pairs[0]]
            weight /= max(weight.sum(), 1e-12)
            change = pair_changes(labels, *pairs)
            for k, a in enumerate(au_names):
                shares[str(a)] = {"changed": float(weight @ (change[:, k] >= 1)),
                                  "changed_by_2": float(weight @ (change[:, k] >= 2))}
            return shares
        weight = np.bincount(self.sampler.pool, minlength=len(self.images)).astype(np.float64)
        weight = np.where(self.count > 1, weight, 0.0)
        weight /= max(weight.sum(), 1e-12)
        groups = self.group.max() + 1
        levels = np.arange(MAX_INTENSITY + 1, dtype=np.int64)
        for k, a in enumerate(au_names):
            known = labels[:, k] >= 0
            hist = np.zeros((groups, len(levels)))
            np.add.at(hist, (self.group[known], labels[known, k]), 1.0)
            shares[str(a)] = {}
            for name, t in (("changed", 1), ("changed_by_2", 2)):
                # far[g, l]: frames of group g whose level differs from l by >= t (never the frame itself).
                far = hist @ (np.abs(levels[:, None] - levels[None, :]) >= t)
                n = np.where(known, far[self.group, np.maximum(labels[:, k], 0)], 0.0)
                shares[str(a)][name] = float(weight @ (n / np.maximum(self.count - 1, 1)))
        return shares

    def exact_pairs(self, indices: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(partners, paired, pair ids)``: with exact partners, each frame's partner uniform over its
        rendered pairs for ``u`` ~ U[0, 1); a frame without one gets `partners`' fallback (pair id 0,
        masked)."""
        c = self.pair_count[indices]
        r = np.minimum((u * np.maximum(c, 1)).astype(np.int64), np.maximum(c - 1, 0))
        pair = np.where(c > 0, self.pair_start[indices] + r, 0)
        fallback, _ = self.partners(indices, u)
        return np.where(c > 0, self.exact.partners[pair], fallback), c > 0, pair

    def partners(self, indices: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Partners from the frame's group (never the frame itself) for ``u`` ~ U[0, 1); mask of real pairs."""
        m = self.count[indices]
        paired = m > 1
        r = np.minimum((u * np.maximum(m - 1, 1)).astype(np.int64), np.maximum(m - 2, 0))
        r = np.where(r >= self.rank[indices], r + 1, r)   # skip the frame's own slot
        same = self.members[self.start[indices] + np.where(paired, r, 0)]
        anyone = np.minimum((u * len(self.images)).astype(np.int64), len(self.images) - 1)
        return np.where(paired, same, anyone), paired

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's batch of ``step`` (a pure function of ``(seed, step)``)."""
        idx = self.sampler.global_indices(step)
        rng = np.random.default_rng([self.seed, 7, step])
        u = rng.random(len(idx))
        noise = rng.uniform(-self.noise, self.noise, (len(idx), self.aus.shape[1])).astype(np.float32)
        # Its own stream, so that flip=False batches stay what they were.
        mirrored = np.random.default_rng([self.seed, 8, step]).random(len(idx)) < 0.5 if self.flip else None
        own = None
        if self.own_fraction:
            own = np.random.default_rng([self.seed, 9, step]).random(len(idx)) < self.own_fraction
        sl = slice(self.lo, self.lo + self.per_process)
        idx, u, noise = idx[sl], u[sl], noise[sl]
        pair = None
        if self.pairs is None and self.exact is None:
            partner, paired = self.partners(idx, u)
        elif self.pairs is None:
            partner, paired, pair = self.exact_pairs(idx, u)
        else:   # the sampler draws pair ids
            pair = idx
            idx, partner, paired = self.pairs[0][pair], self.pairs[1][pair], np.ones(len(pair), bool)
        if own is not None:
            own = own[sl]
            partner, paired = np.where(own, idx, partner), paired | own
            noise = np.where(own[:, None], np.float32(0), noise)

        def mirror(x):
            return x if mirrored is None else np.where(mirrored[sl, None, None, None], x[:, :, ::-1], x)

        def images(rows):
            return mirror(to_unit(self.images[rows]))

        out = {"image": images(idx), "aus": self.aus[idx], "aus_valid": self.valid[idx],
               "target_aus": self.aus[partner] + noise}
        if self.with_target_image:
            if self.exact is None:
                out["target_image"] = images(partner)
                out["target_image_mask"] = paired.astype(np.float32)
            else:
                # The source's own scene showing the partner's expression; a self-pair's target is itself.
                selfish = np.zeros(len(idx), bool) if own is None else own
                rendered = np.where(selfish[:, None, None, None], self.images[idx], self.exact.image[pair])
                out["target_image"] = mirror(to_unit(rendered))
                ok = paired & (selfish | self.exact.ok[pair])
                out["target_image_mask"] = ok.astype(np.float32)
        return out

    def __call__(self, start: int):
        step = start
        while True:
            yield self.batch(step)
            step += 1


def pair_change_shares(cfg: Mapping[str, Any], frames: frames_lib.FrameSet, seed: int
                       ) -> dict[str, dict[str, float]]:
    """`PairedSource.change_shares` of the batches `train` draws with these settings and seed."""
    s = settings(cfg)
    exact = None
    if s["partners"] == "oracle":   # the shares depend on the pairs, not on their renders
        src, par = oracle_pairs(frames, seed)
        exact = ExactPartners(src, par, np.zeros((len(src), 1, 1, 3), np.uint8), np.ones(len(src), bool))
    source = PairedSource(frames, int(s["batch_size"]), seed, with_target_image=False,
                          partners=str(s["partners"]), sampling=str(s["sampling"]), exact=exact)
    return source.change_shares([str(a) for a in frames["au_names"]])


PARTNERS = ("subject", "sequence", "oracle")
SAMPLING = ("frames", "balanced", "pairs")
# `partner_pairs`: at most this many partners per source in a larger group (a FERA 2017 subject has
# thousands of frames; the demo's and :medium's sequences 4-5).
MAX_PARTNERS = 32


def partner_pairs(group: np.ndarray, seed: int, max_partners: int = MAX_PARTNERS
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Ordered (source, partner) pairs of distinct frames of one group, group by group.

    Every ordered pair of a group with at most ``max_partners + 1`` frames; in a larger one of ``m``
    frames, ``max_partners`` distinct offsets in ``1..m-1`` drawn from ``(seed, first frame)``, and
    each frame partnered with the frames that many places after it (cyclically, in index order):
    distinct partners, never itself, every frame a partner as often as a source.

    Args:
      group: ``[N]`` group id of each frame (e.g. `partner_groups`' keys as integers).
      seed: draw seed for the large groups.
      max_partners: partners per source in a large group.

    Returns:
      ``(sources, partners)``, int64 ``[P]`` each.
    """
    group = np.asarray(group)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    src, dst = [], []
    for members in np.split(order, bounds):
        m = len(members)
        if m < 2:
            continue
        if m - 1 <= max_partners:
            a, b = np.meshgrid(members, members, indexing="ij")
            keep = a != b
            src.append(a[keep]), dst.append(b[keep])
            continue
        offsets = 1 + np.random.default_rng([seed, 12, int(members[0])]).choice(m - 1, max_partners, replace=False)
        src.append(np.repeat(members, max_partners))
        dst.append(members[(np.arange(m)[:, None] + np.sort(offsets)[None, :]) % m].ravel())
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src).astype(np.int64), np.concatenate(dst).astype(np.int64)


def pair_changes(labels: np.ndarray, sources: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Each pair's change level per AU, ``|l_partner - l_source|`` (0..5; -1 where either is unknown)."""
    labels = np.asarray(labels)
    a, b = labels[sources], labels[partners]
    return np.where((a >= 0) & (b >= 0), np.abs(b - a), -1)


def partner_groups(frames: frames_lib.FrameSet, partners: str = "subject") -> np.ndarray:
    """The group each frame draws its idiosyncratic-loss partner from.

    ``'subject'``: any frame of the same subject (paper Sec. 3.2). ``'sequence'``: a frame of the same
    sequence (same session: same scene, light and camera, so the pair differs in expression only),
    falling back to the same subject for a frame alone in its sequence. ``'oracle'``: the groups of
    ``'sequence'`` (whose pairs `oracle_pairs` lists for exact rendering).
    """
    if partners not in PARTNERS:
        raise ValueError(f"config.generator.partners={partners!r}: use one of {PARTNERS}.")
    subjects = np.asarray(frames["subject"]).astype(str)
    keys = np.char.add("subject:", subjects)
    if partners in ("sequence", "oracle"):
        seq = np.char.add(np.char.add(subjects, "/"), np.asarray(frames["sequence"]).astype(str))
        _, inverse, counts = np.unique(seq, return_inverse=True, return_counts=True)
        keys = np.where(counts[inverse] > 1, np.char.add("sequence:", seq), keys)
    return keys


@dataclasses.dataclass(frozen=True)
class ExactPartners:
    """Idiosyncratic-loss targets rendered exactly (``partners='oracle'``, SynthFACS only).

    Row ``i`` pairs frame ``sources[i]`` with frame ``partners[i]``; ``image[i]`` (uint8 ``[S, S, 3]``)
    is the source's render request showing the partner's intensities of the generator's AUs, rendered
    and registered as the frames were (`jaxau.synthesis.oracle.OracleRenderer.oracle`): the image
    ``G(I | y_t)`` should draw, where a real same-sequence partner differs also in head motion, blinks
    and the AUs G is not told. ``ok[i]`` is False where registration rejected the render (masked out).
    Not in GANimation: a diagnostic that gives the generator an exact paired target, so that its
    architecture can be told apart from its training signal.
    """

    sources: np.ndarray
    partners: np.ndarray
    image: np.ndarray
    ok: np.ndarray


def oracle_pairs(frames: frames_lib.FrameSet, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(sources, partners)`` rows `ExactPartners` renders: `partner_pairs` of the
    ``'oracle'`` (same-sequence) groups."""
    _, group = np.unique(partner_groups(frames, "oracle"), return_inverse=True)
    return partner_pairs(group, seed)


def to_unit(images_uint8: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1] (the generator's range)."""
    return np.asarray(images_uint8, np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] -> uint8, rounded and clipped."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ steps
def own_share(value: Any) -> float:
    """``generator.own_fraction`` as a float in [0, 1] (ValueError naming the field otherwise)."""
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"config.generator.own_fraction={value}: use a share in [0, 1].")
    return share


def check_settings(s: Mapping[str, Any]) -> None:
    """Raises ValueError for an unknown conditioning and for settings that contradict each other
    (`check_frozen_critic`, own partners)."""
    check_frozen_critic(s)
    if s["conditioning"] not in ganimation.CONDITIONINGS:
        raise ValueError(f"config.generator.conditioning={s['conditioning']!r}: use one of "
                         f"{ganimation.CONDITIONINGS}.")
    share = own_share(s["own_fraction"])
    if share and not float(s["lambda_ids"]):
        raise ValueError(
            f"config.generator.own_fraction={share} partners frames with themselves so that the "
            "idiosyncratic L1 holds G(I | y_I) to I, but lambda_ids=0 turns that L1 off: pass "
            "--config.generator.lambda_ids > 0, or own_fraction=0.")


def check_frozen_critic(s: Mapping[str, Any]) -> None:
    """Raises ValueError unless a frozen critic (``lambda_exp_frozen`` > 0) has an expression warm-up.

    The frozen critic is the critic at the end of its expression-only warm-up
    (`gan_steps.GANState.frozen_critic`); without one it would stay the untrained initial critic.
    """
    if float(s["lambda_exp_frozen"]) and (int(s["critic_warmup"]) <= 0 or s["critic_warmup_loss"] != "expression"):
        raise ValueError(
            f"config.generator.lambda_exp_frozen={s['lambda_exp_frozen']} reads G's images with the critic "
            f"as it stands after an expression-only warm-up, but critic_warmup={s['critic_warmup']} and "
            f"critic_warmup_loss={s['critic_warmup_loss']!r}: pass --config.generator.critic_warmup=500 "
            "--config.generator.critic_warmup_loss=expression, or lambda_exp_frozen=0.")


def _hashable(s: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, s[k]) for k in DEFAULTS))


WARMUP_LOSSES = ("full", "expression")


@functools.lru_cache(maxsize=8)
def _compiled_steps(key: tuple, num_aus: int, mesh) -> tuple[Any, Any, Any]:
    # Cached so that runs with identical settings in one process (resume, tests, ablations with the
    # same shapes) share one compilation per step kind.
    s = dict(key)
    g, d = modules(s, num_aus)
    kw = dict(generator=g, discriminator=d, weights=loss_weights(s), axis_name=parallel.AXIS,
              augment=int(s["d_augment_shift"]))
    d_only = parallel.data_parallel(functools.partial(gan_steps.d_step, **kw), mesh)
    d_and_g = parallel.data_parallel(functools.partial(gan_steps.d_g_step, **kw), mesh)
    d_exp = parallel.data_parallel(functools.partial(gan_steps.d_expression_step, **kw), mesh)
    return d_only, d_and_g, d_exp


class StepDispatcher:
    """``step_fn(state, batch, rng)`` for `jaxau.train.loop.train` choosing the step kind per iteration.

    Iterations before ``critic_warmup`` train D alone: the full critic loss (``warmup_step`` None) or
    the step given (`jaxau.train.gan_steps.d_expression_step`: the AU head only). Afterwards every
    ``n_critic``-th iteration is a D+G step, the others D-only.
    """

    def __init__(self, d_only, d_and_g, n_critic: int, critic_warmup: int = 0, warmup_step=None):
        self.d_only, self.d_and_g, self.n_critic = d_only, d_and_g, n_critic
        self.warmup = int(critic_warmup)
        self.warmup_step = warmup_step or d_only
        self.step: int | None = None
        self.g_metrics: dict = {}

    def __call__(self, state, batch, rng):
        if self.step is None:  # first call (fresh or restored state): one sync, then counted here
            self.step = int(jax.device_get(state.step))
        # Critic warm-up: D (and its AU regressor) trains alone before G first follows it.
        if self.step >= self.warmup and gan_steps.trains_generator(self.step - self.warmup, self.n_critic):
            state, metrics = self.d_and_g(state, batch, rng)
            self.g_metrics = {k: v for k, v in metrics.items() if k.startswith(("g_", "attention"))}
        else:
            d_step = self.warmup_step if self.step < self.warmup else self.d_only
            state, metrics = d_step(state, batch, rng)
            metrics = {**self.g_metrics, **metrics}
        self.step += 1
        return state, metrics


# ------------------------------------------------------------------------------------------ grids
@functools.lru_cache(maxsize=4)
def _generate_fn(generator: ganimation.Generator):
    @jax.jit
    def generate(params, images, aus, source_aus):
        out = generator.apply({"params": params}, images, aus, source_aus)
        return out.image, (out.attention if out.attention is not None else out.image[..., :1] * 0 + 1)

    return generate


def sweep_grids(generator: ganimation.Generator, params, images_uint8: np.ndarray, aus: np.ndarray,
                levels: int = LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Contact sheets of AU intensity sweeps.

    Row ``(source s, AU k)`` shows the source, then the source re-rendered with AU ``k`` set to
    0, 1/5, ..., 5/5 (the other AUs keep the source's values).

    Args:
      generator: the generator module.
      params: its parameters.
      images_uint8: ``[S, H, W, 3]`` sources.
      aus: ``[S, K]`` their AUs in [0, 1].
      levels: intensity levels per sweep.

    Returns:
      ``(faces, attention)`` uint8 sheets ``[S*K*H, (levels+1)*W, 3]``; the attention sheet shows
      the mask A (white = keep the source pixel) and, in its first column, the source.
    """
    s, h, w, _ = images_uint8.shape
    k = aus.shape[1]
    rows_aus = np.repeat(aus[:, None, None, :], k, 1).repeat(levels, 2)      # [S, K, L, K]
    own = np.repeat(aus, k * levels, 0).astype(np.float32)                    # each row's source's AUs
    for a in range(k):
        rows_aus[:, a, :, a] = np.arange(levels) / (levels - 1)
    src = np.repeat(images_uint8[:, None, None], k, 1).repeat(levels, 2)      # [S, K, L, H, W, 3]
    fake, att = _generate_fn(generator)(params, to_unit(src.reshape(-1, h, w, 3)),
                                        rows_aus.reshape(-1, k).astype(np.float32), own)
    fake = to_uint8(np.asarray(fake)).reshape(s, k, levels, h, w, 3)
    att = np.clip(np.rint(np.asarray(att) * 255), 0, 255).astype(np.uint8).reshape(s, k, levels, h, w, 1)
    first = np.repeat(images_uint8[:, None, None], k, 1)

    def sheet(tiles):
        tiles = np.concatenate([first, tiles], axis=2)                        # [S, K, L+1, H, W, 3]
        return tiles.transpose(0, 1, 3, 2, 4, 5).reshape(s * k * h, (levels + 1) * w, 3)

    return sheet(fake), sheet(np.repeat(att, 3, -1))


class GridHook:
    """``hook(step, state)`` writing sweep grids every ``every`` steps (and at ``final_step``)."""

    def __init__(self, workdir: str, generator, frames: frames_lib.FrameSet, every: int, num_sources: int,
                 final_step: int, name: str = "generator"):
        self.dir = os.path.join(workdir, "grids")
        self.generator, self.every, self.final = generator, every, final_step
        # Sources spread over the set (different subjects in a subject-ordered set).
        idx = np.linspace(0, len(frames["image"]) - 1, max(1, num_sources)).astype(int)
        self.images = frames["image"][idx]
        labels = frames["au_intensity"][idx]
        self.aus = np.where(labels >= 0, labels, 0).astype(np.float32) / MAX_INTENSITY
        self.writer = metrics_lib.MetricWriter(workdir, f"{name}_grids") if jax.process_index() == 0 else None

    def __call__(self, step: int, state) -> None:
        if self.writer is None or not ((self.every and step % self.every == 0) or step == self.final):
            return
        faces, att = sweep_grids(self.generator, state.g.params, self.images, self.aus)
        write_png(os.path.join(self.dir, f"step_{step:07d}_faces.png"), faces)
        write_png(os.path.join(self.dir, f"step_{step:07d}_attention.png"), att)
        self.writer.write_images(step, {"sweeps/faces": faces[None], "sweeps/attention": att[None]})
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()


def write_png(path: str, rgb: np.ndarray) -> None:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    io_utils.write_bytes(path, data.tobytes())


# ----------------------------------------------------------------------------------------- train
def check_frames(frames: frames_lib.FrameSet, s: Mapping[str, Any], source: str = "training frames") -> None:
    frames_lib.validate(frames, source)
    size = int(s["image_size"])
    if frames["image"].shape[1:3] != (size, size):
        raise ValueError(f"{source}: images are {frames['image'].shape[1:3]} but config.generator."
                         f"image_size is {size}: load them at that size (frames.load_tfds(image_size=...)) "
                         "or set config.generator.image_size to match.")
    if size % 4:
        raise ValueError(f"config.generator.image_size={size} must be divisible by 4 (two stride-2 "
                         "down- and up-samplings).")
    if size // 2 ** int(s["d_layers"]) < 1:
        raise ValueError(f"config.generator.d_layers={s['d_layers']} halves {size} below 1 pixel: use "
                         f"at most {int(np.log2(size))}.")


@functools.lru_cache(maxsize=4)
def _critic_fn(discriminator):
    @jax.jit
    def aus(params, images_uint8):
        # The generator's range: uint8 -> [-1, 1] (`to_unit`).
        images = images_uint8.astype(jax.numpy.float32) / 127.5 - 1.0
        return discriminator.apply({"params": params}, images)[1]

    return aus


def critic_outputs(discriminator, params, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The critic's AU regression ``[N, K]`` for uint8 images, in fixed-size batches (one compilation)."""
    fn = _critic_fn(discriminator)
    out = batching.map_padded(lambda chunk: fn(params, chunk), images, batch_size)
    return np.concatenate(out) if out else np.zeros((0, discriminator.num_aus), np.float32)


def critic_icc(outputs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """ICC(3,1) of the critic's AU head (``level / 5`` units, continuous) against integer levels.

    Returns ``(mean over AUs, per AU)``; unknown labels (-1) are dropped per AU.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", eval_metrics.UndefinedMetricWarning)
        per_au = np.atleast_1d(eval_metrics.icc(labels, np.asarray(outputs, np.float64) * MAX_INTENSITY))
    return float(np.mean(per_au)), per_au


def critic_eval_fn(discriminator: ganimation.Discriminator, val_frames: frames_lib.FrameSet, au_names):
    """``eval_fn(state, step)``: ``critic_icc`` (and per AU) of the critic's AU head on labelled frames."""

    val = frames_lib.with_aus(val_frames, au_names)

    def eval_fn(state, step):
        params = jax.device_get(state.d.params)
        mean, per_au = critic_icc(critic_outputs(discriminator, params, val["image"]), val["au_intensity"])
        return {"critic_icc": mean, **{f"critic_icc_{a}": float(v) for a, v in zip(au_names, per_au)}}

    return eval_fn


def train(cfg: Mapping[str, Any], workdir: str, frames: frames_lib.FrameSet, *, seed: int = 0,
          name: str = "generator", hooks=(), val_frames: frames_lib.FrameSet | None = None,
          exact_partners: ExactPartners | None = None) -> loop.LoopResult:
    """Trains (or resumes) a generator in ``workdir`` on a frame set.

    Args:
      cfg: the ``generator`` config section (see ``DEFAULTS``).
      workdir: model directory (``generator.json``, checkpoints, logs, grids).
      frames: training frames at ``image_size``.
      seed: initialisation and data seed.
      name: log prefix.
      hooks: extra ``hook(step, state)`` callables (the loop's).
      val_frames: labelled frames on which ``critic_icc`` (the critic's AU head, `critic_eval_fn`) is
        logged every ``eval_every`` steps and at the end (``<name>_eval_metrics.jsonl``).
      exact_partners: the exact renders of ``partners='oracle'`` (`ExactPartners` of
        `oracle_pairs(frames, seed)`); required with it, refused without it.

    Returns:
      The loop's `LoopResult` (``state`` is the replicated GANState).
    """
    s = settings(cfg)
    check_frames(frames, s)
    au_names = [str(a) for a in frames["au_names"]]
    checkpoint_lib.write_run_record(workdir, MODEL_FILE, {"config": s, "au_names": au_names, "seed": seed},
                                    state_keys=STATE_KEYS, what="a generator", defaults=DEFAULTS)
    mesh = parallel.make_mesh()
    batch = int(s["batch_size"])
    if batch % jax.device_count():
        raise ValueError(f"config.generator.batch_size={batch} must divide over {jax.device_count()} devices.")
    state = init_state(s, len(au_names), seed)
    if jax.process_index() == 0:
        logging.info("%s", metrics_lib.parameter_summary(state.g.params, "generator"))
        logging.info("%s", metrics_lib.parameter_summary(state.d.params, "critic"))
    state = parallel.replicate(state, mesh)
    source = PairedSource(frames, batch, seed, target_noise=float(s["target_noise"]),
                          with_target_image=float(s["lambda_ids"]) > 0,
                          process_index=jax.process_index(), process_count=jax.process_count(),
                          partners=str(s["partners"]), flip=bool(s["flip"]),
                          sampling=str(s["sampling"]), own_fraction=float(s["own_fraction"]),
                          exact=exact_partners)
    if s["critic_warmup_loss"] not in WARMUP_LOSSES:
        raise ValueError(f"config.generator.critic_warmup_loss={s['critic_warmup_loss']!r}: use one of "
                         f"{WARMUP_LOSSES}.")
    check_settings(s)
    d_only, d_and_g, d_exp = _compiled_steps(_hashable(s), len(au_names), mesh)
    dispatcher = StepDispatcher(d_only, d_and_g, int(s["n_critic"]), int(s["critic_warmup"]),
                                warmup_step=d_exp if s["critic_warmup_loss"] == "expression" else None)
    generator, discriminator = modules(s, len(au_names))
    eval_fn = None if val_frames is None else critic_eval_fn(discriminator, val_frames, au_names)
    grid = GridHook(workdir, generator, frames, int(s["grid_every"]), int(s["grid_sources"]),
                    int(s["num_steps"]), name)
    try:
        return loop.train(workdir=workdir, state=state, step_fn=dispatcher, batches=source, mesh=mesh,
                          num_steps=int(s["num_steps"]), global_batch_size=batch,
                          rng=jax.random.key(seed + 1), checkpoint_every=int(s["checkpoint_every"]),
                          log_every=int(s["log_every"]), name=name, hooks=(grid, *hooks), eval_fn=eval_fn,
                          eval_every=int(s["eval_every"]))
    finally:
        grid.close()


def load_training_frames(config: Any, workdir: str) -> frames_lib.FrameSet:
    """The frames a launcher config names: ``generator.frames`` (.npz) or ``data`` via TFDS.

    TFDS frames are read at ``generator.image_size`` with ``data.train_poses`` (frontal for raw
    SynthFACS, until registered frame sets exist); ``generator.max_frames`` (0 = all) caps them.
    """
    aus = au_lib.parse_aus(config.data.aus)
    if config.generator.get("frames"):
        frames = frames_lib.with_aus(frames_lib.load(config.generator.frames), aus)
    else:
        directory = resolve.data_dir(config, workdir)
        resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
        frames = frames_lib.cached_tfds(os.path.join(workdir, "frames"), config.data.name,
                                        config.data.get("train_split", "train"), data_dir=directory,
                                        image_size=int(config.generator.image_size), aus=aus,
                                        pose_ids=resolve.poses(config.data.get("train_poses")))
    limit = int(config.generator.get("max_frames", 0) or 0)
    if limit:
        frames = frames_lib.select(frames, np.arange(len(frames["image"])) < limit)
    return frames


@dataclasses.dataclass
class TrainedGenerator:
    """A trained generator loaded from its model directory."""

    generator: ganimation.Generator
    params: Any
    au_names: tuple[str, ...]
    image_size: int
    step: int
    config: dict


def _restore(model_dir: str) -> tuple[dict, tuple[str, ...], int, gan_steps.GANState]:
    """``(settings, au_names, step, state)`` of the latest checkpoint in a generator directory."""
    meta, state, step = checkpoint_lib.load_run(
        model_dir, MODEL_FILE,
        lambda m: init_state(settings(m["config"]), len(m["au_names"]), int(m.get("seed", 0))),
        what="the generator", written_by="launch/train_generator.py (or the pipeline's generator stage)")
    return settings(meta["config"]), tuple(meta["au_names"]), step, state


def load_generator(model_dir: str) -> TrainedGenerator:
    """Loads the latest checkpoint's generator from a directory written by `train`."""
    s, au_names, step, state = _restore(model_dir)
    generator, _ = modules(s, len(au_names))
    return TrainedGenerator(generator, jax.device_get(state.g.params), au_names, int(s["image_size"]),
                            step, s)


def load_critic(model_dir: str) -> tuple[ganimation.Discriminator, Any, TrainedGenerator]:
    """Loads the latest checkpoint's critic D (with its AU-regression head) from a generator directory.

    GANimation's D regresses every AU's intensity / 5 on real frames (the expression loss), so it is an
    AU estimator in its own right: the paper's "GANimation internal classifier" (Table S4).

    Args:
      model_dir: a directory written by `train` (``generator.json`` + ``checkpoints/``).

    Returns:
      ``(discriminator, critic_params, trained)``: the Linen module, its parameters (host arrays) and
      the generator restored from the same checkpoint (its ``au_names``, ``image_size``, ``step`` and
      ``config`` describe the critic too).
    """
    s, au_names, step, state = _restore(model_dir)
    generator, discriminator = modules(s, len(au_names))
    trained = TrainedGenerator(generator, jax.device_get(state.g.params), au_names, int(s["image_size"]), step, s)
    return discriminator, jax.device_get(state.d.params), trained


def critic_reader(model_dir: str):
    """The trained critic's AU head as a reader: ``uint8 images [N, H, W, 3] -> intensities [N, K]``.

    Intensities are on the label scale (0-5, the head's ``level / 5`` output times 5), in the
    generator's ``au_names`` order; images are at the generator's ``image_size``.
    """
    discriminator, params, _ = load_critic(model_dir)
    return lambda images: critic_outputs(discriminator, params, images) * MAX_INTENSITY

