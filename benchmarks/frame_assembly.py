"""What assembling an offline stage's frame set from its chunks costs: copied vs linked images.

The offline stages (register_2d/3d, synthesis, augment) write their output in chunks, one process per
chunk in a multi-host run, and process 0 then writes the stage's frame store. Two ways, both
measured here on the same procedural images:

* ``copy``: each chunk's images compressed inside its ``.npz`` (``np.savez_compressed``, how the
  stages wrote chunks before sharded stores), and the store's ``image.npy`` written by reading every
  chunk back (`lazy_rows.NpzChunkRows` into `frame_store.write`): a serial pass over every image;
* ``link``: each chunk's images raw beside its ``.npz`` (`frame_store.save_chunk`), and the store
  linking those files in as its shards (`frame_store.chunk_images` into `frame_store.write`).

Per way: the seconds every process spends writing its chunks (summed), process 0's assembly seconds
(the serial part of a multi-host stage), the bytes on disk, and the images/s of shuffled 32-image
batches gathered from the finished store (a sharded store with more than `lazy_rows.NpyFiles.MAX_OPEN`
shards opens each file per gather)::

    python benchmarks/frame_assembly.py --workdir=/tmp/assembly [--frames=8100] [--size=64] [--chunk=256]

Prints a markdown table and one JSON record (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _images(n: int, size: int, seed: int) -> np.ndarray:
    """Face-like rows: a smooth gradient under a disc, black outside (compresses like registered faces)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2) < 0.16
    base = (np.stack([yy, xx, 1 - yy], -1) * 200).astype(np.float32)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = base + rng.normal(0, 6, base.shape).astype(np.float32)
        out[i] = np.clip(img, 0, 255).astype(np.uint8) * disc[..., None]
    return out


def _frames(image, n: int) -> dict:
    return {"image": image, "au_intensity": np.zeros((n, 1), np.int32), "au_names": np.asarray(["AU12"]),
            "subject": np.asarray(["s"] * n), "sequence": np.asarray(["q"] * n),
            "frame": np.arange(n, dtype=np.int32), "pose_id": np.zeros(n, np.int32)}


def _disk_bytes(directory: str) -> int:
    """Bytes of distinct files under ``directory`` (a hard-linked file counts once)."""
    seen, total = set(), 0
    for root, _, files in os.walk(directory):
        for f in files:
            st = os.stat(os.path.join(root, f))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def _gather_rate(store: str, batches: int, seed: int) -> float:
    from jaxau.data import frames as frames_lib

    image = frames_lib.load(store)["image"]
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(batches):
        image[rng.integers(0, len(image), 32)]
    return batches * 32 / (time.perf_counter() - t0)


def run_way(way: str, workdir: str, frames: int, size: int, chunk: int, batches: int) -> dict:
    """Writes the chunks and assembles the store one ``way`` ('copy' / 'link'); returns its numbers."""
    from jaxau import io_utils
    from jaxau.data import frame_store, frames as frames_lib, lazy_rows

    root = os.path.join(workdir, way)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "chunks"))
    paths, write_s = [], 0.0
    for k, lo in enumerate(range(0, frames, chunk)):
        rows = _images(min(chunk, frames - lo), size, seed=k)
        path = os.path.join(root, "chunks", f"train-{k:05d}.npz")
        t0 = time.perf_counter()
        if way == "copy":
            io_utils.savez(path, image=rows, frame=np.arange(len(rows)))
        else:
            frame_store.save_chunk(path, rows, frame=np.arange(len(rows)))
        write_s += time.perf_counter() - t0
        paths.append(path)
    t0 = time.perf_counter()
    if way == "copy":
        image = lazy_rows.NpzChunkRows(paths, "image")
    else:
        image = frame_store.chunk_images(paths, row_shape=(size, size, 3))
    store = frames_lib.save(os.path.join(root, "train.frames"), _frames(image, frames))
    assemble_s = time.perf_counter() - t0
    return {"way": way, "store": store, "chunks": len(paths), "chunk_write_s": write_s, "assemble_s": assemble_s,
            "assemble_mb_per_s": frames * size * size * 3 / 1e6 / assemble_s,
            "disk_mb": _disk_bytes(root) / 1e6, "gather_images_per_s": _gather_rate(store, batches, 0)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--frames", type=int, default=8100)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--batches", type=int, default=300, help="shuffled 32-image batches gathered per store")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    if args.frames <= 0 or args.chunk <= 0 or args.size <= 0:
        print("frame_assembly: --frames, --chunk and --size must be positive.", file=sys.stderr)
        sys.exit(2)
    rows = [run_way(way, args.workdir, args.frames, args.size, args.chunk, args.batches) for way in ("copy", "link")]
    from jaxau.data import frames as frames_lib

    # Both ways must have assembled the same rows, or their timings compare nothing.
    copied, linked = (frames_lib.load(r["store"])["image"] for r in rows)
    same = copied.shape == linked.shape and all(np.array_equal(a, b) for a, b in zip(copied.blocks(), linked.blocks()))
    record = {"frames": args.frames, "size": args.size, "chunk": args.chunk, "load": os.getloadavg()[0],
              "ways": rows, "same_images": bool(same),
              "assemble_ratio_copy_over_link": rows[0]["assemble_s"] / rows[1]["assemble_s"]}
    if not same:
        print("frame_assembly: the linked store's images differ from the copied store's.", file=sys.stderr)
        sys.exit(1)
    print(f"{args.frames} frames at {args.size} px in {rows[0]['chunks']} chunks (load {record['load']:.1f})\n")
    print("| way | chunk writes s (all processes) | assembly s (process 0) | MB/s | disk MB | shuffled gather images/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['way']} | {r['chunk_write_s']:.2f} | {r['assemble_s']:.3f} | {r['assemble_mb_per_s']:.0f} | "
              f"{r['disk_mb']:.0f} | {r['gather_images_per_s']:.0f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)
    return record


if __name__ == "__main__":
    main()
