"""Registration speed on this machine: inference + 3-D alignment, and training steps.

    python benchmarks/registration_inference.py [--size 256 --width 16 --out 224 --batch 8]

Measures (best of ``--repeats`` timed calls after a compile call):
  * registration inference (crop + PRNet forward + decode + pose fit) at ``size`` with base ``width``
    (256 / 16 is the released PRNet), images/s and achieved GFLOP/s (XLA's cost analysis);
  * the same plus 3-D frontalization to ``out`` x ``out`` (visibility raster, colour sampling,
    output raster), images/s;
  * a data-parallel training step at the demo size (64 px, width 4, batch 8): images/s and GFLOP/s.
Weights are random (speed does not depend on them). Peak for comparison: ~277 GFLOP/s (float32
matmul, reference/performance.md).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxau import platform  # noqa: E402

platform.configure_xla()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def best_time(fn, repeats):
    jax.block_until_ready(fn())  # compile + warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def flops_of(jitted, *args):
    try:
        cost = jitted.lower(*args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost.get("flops", 0.0))
    except Exception:  # cost analysis is best effort (backend dependent)
        return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--out", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip_train", action="store_true")
    a = p.parse_args()

    from jaxau.align import canonical, crop, frontalize, registrar as register
    from jaxau.models.prnet import PRNet
    from jaxau.train import prnet as reg_train

    model = PRNet(size=a.size, width=a.width, scale_output=False)
    variables = model.init(jax.random.key(0), jnp.zeros((1, a.size, a.size, 3)), train=False)
    settings = reg_train.settings({"image_size": a.size, "base_width": a.width})
    registrar = register.Registrar(model=model, variables=variables, settings=settings, batch_size=a.batch)
    frame = int(a.size * 1.25)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (a.batch, frame, frame, 3), dtype=np.uint8)
    boxes = np.tile(np.array([[frame * 0.3, frame * 0.3, frame * 0.7, frame * 0.72]], np.float32), (a.batch, 1))
    mats = crop.box_crop_matrix(boxes, a.size)

    reg_fn = registrar._fn
    t_reg = best_time(lambda: reg_fn(registrar.variables, images, mats), a.repeats)
    f_reg = flops_of(reg_fn, registrar.variables, images, mats)
    print(f"registration {a.size}px width {a.width} batch {a.batch}: {t_reg * 1e3:.1f} ms/batch, "
          f"{a.batch / t_reg:.1f} images/s, {f_reg / t_reg / 1e9:.1f} GFLOP/s "
          f"({f_reg / a.batch / 1e9:.2f} GFLOP/image)")

    def both():
        verts, s, r, t, err, pose = reg_fn(registrar.variables, images, mats)
        return frontalize.frontalize_batch(images, verts, s, r, t, jnp.eye(3), size=a.out)

    t_both = best_time(both, a.repeats)
    print(f"registration + 3-D alignment {a.size} -> {a.out}: {t_both * 1e3:.1f} ms/batch, "
          f"{a.batch / t_both:.1f} images/s")
    verts, s, r, t, _, _ = jax.block_until_ready(reg_fn(registrar.variables, images, mats))
    t_align = best_time(lambda: frontalize.frontalize_batch(images, verts, s, r, t, jnp.eye(3), size=a.out),
                        a.repeats)
    print(f"3-D alignment alone {frame}px frame -> {a.out}: {t_align * 1e3:.1f} ms/batch, "
          f"{a.batch / t_align:.1f} images/s")

    if a.skip_train:
        return
    from jaxau.train import parallel

    cfg = reg_train.settings({"image_size": 64, "base_width": 4, "batch_size": 8})
    data = {"image": rng.integers(0, 255, (8, 128, 128, 3), dtype=np.uint8),
            "box": np.tile(np.array([[40, 40, 88, 92]], np.float32), (8, 1)),
            "pos_map": rng.uniform(20, 100, (8, 64, 64, 3)).astype(np.float32)}
    mesh = parallel.make_mesh()
    state, tx, m = reg_train.init_state(cfg, 0)
    state = parallel.replicate(state, mesh)
    step = parallel.data_parallel(reg_train.make_train_step(m, tx, cfg, np.full((64, 64, 3), 0.5, np.float32)),
                                  mesh, donate_argnums=())
    batch = parallel.shard_batch(data, mesh)
    key = jax.random.key(0)
    t_step = best_time(lambda: step(state, batch, key), a.repeats)
    f_step = flops_of(step, state, batch, key)
    print(f"train step 64px width 4 batch 8 on {len(jax.devices())} device(s): {t_step * 1e3:.1f} ms, "
          f"{8 / t_step:.1f} images/s, {f_step / t_step / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
