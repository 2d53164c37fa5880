"""GANimation training iteration: jaxau against the PyTorch ganimation_replicate, in the same run.

The peer (github.com/donydchen/ganimation_replicate, the reference PyTorch GANimation) is brought by
the user outside this tree and never imported by jaxau itself; torch must be importable by the peer's
worker (``--torch_path`` adds a directory, e.g. a ``pip install --target`` of ``torch==2.13.0+cpu``)::

    python benchmarks/ganimation_peer.py --peer=/path/to/ganimation_replicate \\
        [--torch_path=DIR] [--size=128] [--batch=4] [--rounds=5] [--segment=5]

Both sides build the paper's networks (G: 64 filters, 6 residual blocks, instance norm, colour +
attention heads; D: 64 filters, 6 stride-2 layers, critic + AU heads; 7 AUs) and train WGAN-GP with
the paper's weights (adversarial 1, AU 160, cycle 10, gradient penalty 10), Adam 1e-4 (0.5, 0.999),
a generator step every ``n_critic`` = 5 iterations. One iteration is what each code does per batch:
the peer's ``optimize_paras`` (G forward + cycle, a critic step, every 5th also a G step); jaxau's
`gan_steps.d_step` and, every 5th iteration, `gan_steps.d_g_step` (critic + generator), with its
same-subject loss off (``lambda_ids`` 0: the peer has none). The peer runs at its defaults otherwise
(attention-mask and TV weights 0, its ``train`` mode).

Each side runs in its own long-lived worker process (set up and warmed up once), and the
orchestrator alternates them in segments of ``--segment`` iterations for ``--rounds`` rounds, so
both see the same machine load; it prints the per-iteration seconds of each side (median over
rounds), the per-round ratio jaxau / peer and its median (the issue's target: <= 0.7). Threads: each
worker uses every core (torch.set_num_threads; XLA's CPU pool), one worker at a time. The jaxau
worker sets the XLA flags jaxau's launchers set (`jaxau.platform.configure_xla`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

NUM_AUS = 7


def _batch_numpy(size: int, batch: int, seed: int = 0) -> dict:
    import numpy as np
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
            "aus": rng.uniform(0, 1, (batch, NUM_AUS)).astype(np.float32),
            "target_aus": rng.uniform(0, 1, (batch, NUM_AUS)).astype(np.float32),
            "target_image": rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)}


def jaxau_runner(args):
    """``run(n)``: n training iterations of jaxau's GANimation (compiled and warmed up first)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import functools

    from jaxau import platform
    platform.configure_xla()  # what jaxau's launchers run with (XLA's own CPU convolutions), before jax

    import jax

    from jaxau.models.ganimation import Discriminator, Generator
    from jaxau.train import gan_losses, gan_steps

    g = Generator(conv_dim=args.g_width, num_blocks=args.g_blocks)
    d = Discriminator(num_aus=NUM_AUS, image_size=args.size, conv_dim=args.d_width, num_layers=args.d_layers)
    weights = gan_losses.LossWeights(adv=1.0, gp=10.0, exp=160.0, idt=10.0, ids=0.0, mask=0.0, tv=0.0)
    state = gan_steps.create_gan_state(jax.random.key(0), g, d, args.size, NUM_AUS,
                                       gan_steps.OptimizerConfig(lr=1e-4, b1=0.5, b2=0.999,
                                                                 n_critic=args.n_critic))
    batch = jax.device_put({k: v for k, v in _batch_numpy(args.size, args.batch).items()
                            if k != "target_image"})
    kw = dict(generator=g, discriminator=d, weights=weights, axis_name=None)
    d_step = jax.jit(functools.partial(gan_steps.d_step, **kw), donate_argnums=0)
    dg_step = jax.jit(functools.partial(gan_steps.d_g_step, **kw), donate_argnums=0)
    key = jax.random.key(1)
    state, _ = d_step(state, batch, key)
    state, m = dg_step(state, batch, key)
    jax.block_until_ready(m)
    counter = [0]

    def run(n: int) -> None:
        nonlocal state
        for _ in range(n):
            step = dg_step if counter[0] % args.n_critic == 0 else d_step
            state, m = step(state, batch, jax.random.fold_in(key, counter[0]))
            counter[0] += 1
        jax.block_until_ready(m)

    return run


def peer_runner(args):
    """``run(n)``: n iterations of the peer's ``GANimationModel.optimize_paras``."""
    if args.torch_path:
        sys.path.insert(0, args.torch_path)
    sys.path.insert(0, args.peer)
    import types

    import numpy as np
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    from model.ganimation import GANimationModel  # the peer's own module, from --peer

    opt = types.SimpleNamespace(
        gpu_ids=[], mode="train", img_nc=3, aus_nc=NUM_AUS, ngf=args.g_width, ndf=args.d_width,
        use_dropout=False, norm="instance", init_type="normal", init_gain=0.02, final_size=args.size,
        load_epoch=0, lr=1e-4, beta1=0.5, gan_type="wgan-gp", lambda_dis=1.0, lambda_aus=160.0,
        lambda_rec=10.0, lambda_mask=0.0, lambda_tv=0.0, lambda_wgan_gp=10.0, lr_policy="lambda",
        epoch_count=1, niter=20, niter_decay=10, no_test_eval=False)
    model = GANimationModel()
    model.initialize(opt)
    model.setup()
    b = _batch_numpy(args.size, args.batch)
    nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    model.feed_batch({"src_img": nchw(b["image"]), "tar_img": nchw(b["target_image"]),
                      "src_aus": torch.from_numpy(b["aus"]), "tar_aus": torch.from_numpy(b["target_aus"])})
    model.optimize_paras(train_gen=True)  # warm-up
    counter = [0]

    def run(n: int) -> None:
        for _ in range(n):
            model.optimize_paras(train_gen=counter[0] % args.n_critic == 0)
            counter[0] += 1

    return run


def serve(args) -> int:
    """Worker: set up, print READY, then time ``n`` iterations per stdin line, print the seconds."""
    run = jaxau_runner(args) if args.serve == "jaxau" else peer_runner(args)
    print("READY", flush=True)
    for line in sys.stdin:
        n = int(line)
        t = time.perf_counter()
        run(n)
        print(f"SECONDS {time.perf_counter() - t:.6f}", flush=True)
    return 0


def _start(side: str, args) -> subprocess.Popen:
    cmd = [sys.executable, os.path.abspath(__file__), f"--serve={side}", f"--size={args.size}",
           f"--batch={args.batch}", f"--n_critic={args.n_critic}", f"--g_width={args.g_width}",
           f"--g_blocks={args.g_blocks}", f"--d_width={args.d_width}", f"--d_layers={args.d_layers}"]
    if side == "peer":
        cmd += [f"--peer={args.peer}"] + ([f"--torch_path={args.torch_path}"] if args.torch_path else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # the peer prints its own progress lines first
        if line.strip() == "READY":
            return proc
    raise SystemExit(f"ganimation_peer: the {side} worker did not start (exit {proc.wait()}); "
                     f"its error is above")


def _segment(proc: subprocess.Popen, n: int) -> float:
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    for line in proc.stdout:
        if line.startswith("SECONDS "):
            return float(line.split()[1])
    raise SystemExit(f"ganimation_peer: a worker stopped mid-run (exit {proc.wait()})")


def compare(args) -> dict:
    """Alternates the workers for ``args.rounds`` rounds; per-iteration seconds and ratios."""
    sides = ["jaxau"] + (["peer"] if args.peer else [])
    t = time.perf_counter()
    procs = {side: _start(side, args) for side in sides}
    setup_s = time.perf_counter() - t
    per_iter = {side: [] for side in sides}
    try:
        for _ in range(args.rounds):
            for side in sides:
                per_iter[side].append(_segment(procs[side], args.segment) / args.segment)
    finally:
        for proc in procs.values():
            proc.stdin.close()
            proc.wait()
    out = {"size": args.size, "batch": args.batch, "n_critic": args.n_critic, "rounds": args.rounds,
           "segment": args.segment, "setup_s": round(setup_s, 1), "cpus": os.cpu_count(),
           "seconds_per_iteration": {s: statistics.median(v) for s, v in per_iter.items()},
           "all_seconds_per_iteration": per_iter}
    if args.peer:
        ratios = [a / b for a, b in zip(per_iter["jaxau"], per_iter["peer"])]
        out.update(ratio_per_round=ratios, ratio_median=statistics.median(ratios))
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", default="", help="checkout of ganimation_replicate (none: jaxau only)")
    p.add_argument("--torch_path", default="", help="directory to add to sys.path for torch")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--n_critic", type=int, default=5)
    p.add_argument("--g_width", type=int, default=64)
    p.add_argument("--g_blocks", type=int, default=6)
    p.add_argument("--d_width", type=int, default=64)
    p.add_argument("--d_layers", type=int, default=6)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--segment", type=int, default=5, help="iterations per side per round")
    p.add_argument("--serve", default=None, choices=("jaxau", "peer"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args)
    result = compare(args)
    print(json.dumps(result))
    s = result["seconds_per_iteration"]
    print(f"GANimation iteration, {args.size}x{args.size}, batch {args.batch}, n_critic {args.n_critic}: "
          f"jaxau {s['jaxau']:.3f} s" + (f", peer {s['peer']:.3f} s, ratio {result['ratio_median']:.2f} "
                                         f"(median of {args.rounds} rounds)" if args.peer else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
