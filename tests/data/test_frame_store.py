"""Frame stores on disk: round trip, legacy .npz, atomic writes, lazy views equal to the eager results,
resumable and per-process batches read from disk."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxau import io_utils
from jaxau.data import frame_store, frames as frames_lib, lazy_rows

AUS = ["AU01", "AU06", "AU12"]


def _frames(n=60, size=8, seed=0, subjects=5, neutral=True):
    rng = np.random.default_rng(seed)
    fs = {"image": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
          "au_intensity": rng.integers(-1, 6, (n, len(AUS))).astype(np.int32),
          "subject": np.asarray([f"subj{i % subjects}" for i in range(n)]),
          "sequence": np.asarray([f"seq{i % 3}" for i in range(n)]),
          "frame": np.arange(n, dtype=np.int32), "pose_id": (np.arange(n) % 2).astype(np.int32),
          "au_names": np.asarray(AUS), "target_au": rng.integers(-1, len(AUS), n).astype(np.int32)}
    if neutral:
        fs["neutral"] = rng.random(n) < 0.15
    return fs


def _assert_same(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        g = np.asarray(got[k])
        assert g.dtype == np.asarray(want[k]).dtype, k
        np.testing.assert_array_equal(g, want[k], err_msg=k)


def test_round_trip_is_a_store_with_a_lazy_image(tmp_path):
    fs = _frames()
    written = frames_lib.save(str(tmp_path / "train.npz"), fs)
    assert written == str(tmp_path / "train.frames") and frame_store.is_store(written)
    assert not os.path.exists(tmp_path / "train.npz")
    for name in ("train.npz", "train.frames", "train"):
        back = frames_lib.load(str(tmp_path / name))
        assert lazy_rows.is_lazy(back["image"]) and not lazy_rows.is_lazy(back["au_intensity"])
        _assert_same(back, fs)
    with open(os.path.join(written, frame_store.META_FILE)) as f:
        meta = json.load(f)
    assert meta["num_frames"] == 60 and meta["fields"]["image"]["shape"] == [60, 8, 8, 3]
    # Every stage's file names resolve: the stages write <split>.frames and synthetic.frames.
    assert frames_lib.exists(str(tmp_path / "train.frames")) and not frames_lib.exists(str(tmp_path / "test.frames"))
    with pytest.raises(FileNotFoundError, match="test.frames"):
        frames_lib.load(str(tmp_path / "test.npz"))


def test_lazy_rows_gather_exactly_the_rows_asked_for(tmp_path):
    fs = _frames(n=300)
    image = frames_lib.load(frames_lib.save(str(tmp_path / "a"), fs))["image"]
    want = fs["image"]
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 300, 100)                     # shuffled, with repeats
    np.testing.assert_array_equal(image[idx], want[idx])
    np.testing.assert_array_equal(image[np.arange(40, 90)], want[40:90])   # one run
    np.testing.assert_array_equal(image[5:290:7], want[5:290:7])
    np.testing.assert_array_equal(image[-3], want[-3])
    np.testing.assert_array_equal(image[np.array([-1, 0, -300])], want[[-1, 0, -300]])
    mask = rng.random(300) < 0.3
    np.testing.assert_array_equal(image[mask], want[mask])
    np.testing.assert_array_equal(image[idx, 2], want[idx, 2])
    np.testing.assert_array_equal(np.asarray(image), want)
    np.testing.assert_array_equal(np.stack(list(image)), want)
    assert image[np.zeros(0, np.int64)].shape == (0, 8, 8, 3)
    with pytest.raises(IndexError):
        image[np.array([300])]
    mm = frames_lib.load(str(tmp_path / "a"), reader="mmap")["image"]
    np.testing.assert_array_equal(mm[idx], want[idx])


def test_an_open_set_held_until_interpreter_exit_closes_quietly(tmp_path):
    """A frame set still referenced at exit is collected after the modules' globals are gone: its
    file is closed without an 'Exception ignored in __del__' on stderr."""
    path = frames_lib.save(str(tmp_path / "a"), _frames(n=10))
    script = textwrap.dedent(f"""
        import jax  # noqa: F401  (with jax loaded, the set outlives the os module at exit)
        from jaxau.data import frames as frames_lib
        KEEP = frames_lib.load({path!r})
        KEEP["image"][[0, 3]]          # opens the file
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    assert "Exception ignored" not in out.stderr and "getpid" not in out.stderr, out.stderr


def test_legacy_npz_still_loads_and_a_store_of_the_same_name_wins(tmp_path):
    fs = _frames()
    io_utils.savez(str(tmp_path / "train.npz"), **fs)          # what older versions wrote
    for name in ("train.npz", "train.frames"):
        back = frames_lib.load(str(tmp_path / name))
        assert not lazy_rows.is_lazy(back["image"])
        _assert_same(back, fs)
    newer = _frames(seed=5)
    frames_lib.save(str(tmp_path / "train.npz"), newer)
    _assert_same(frames_lib.load(str(tmp_path / "train.npz")), newer)


class _Exploding(lazy_rows.ArrayRows):
    """Images whose second block fails to read (a writer dying mid-set)."""

    def _gather(self, indices):
        if indices.min() >= lazy_rows.BLOCK_ROWS:
            raise RuntimeError("disk on fire")
        return super()._gather(indices)


def test_a_failed_write_leaves_no_set_and_keeps_the_old_one(tmp_path):
    fs = _frames(n=lazy_rows.BLOCK_ROWS * 2)
    bad = dict(fs, image=_Exploding(fs["image"]))
    with pytest.raises(RuntimeError, match="on fire"):
        frames_lib.save(str(tmp_path / "train"), bad)
    assert not frames_lib.exists(str(tmp_path / "train")) and os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        frames_lib.load(str(tmp_path / "train"))
    old = _frames(n=10, seed=3)
    frames_lib.save(str(tmp_path / "train"), old)
    with pytest.raises(RuntimeError, match="on fire"):
        frames_lib.save(str(tmp_path / "train"), bad)
    _assert_same(frames_lib.load(str(tmp_path / "train")), old)
    assert os.listdir(tmp_path) == ["train.frames"]


def test_a_crash_mid_write_leaves_nothing_that_loads(tmp_path):
    """A writer killed (no cleanup at all) half-way through the images: the set does not exist."""
    code = textwrap.dedent(f"""
        import os, numpy as np
        from jaxau.data import frames as frames_lib, lazy_rows
        from tests.data.test_frame_store import _frames

        class Dying(lazy_rows.ArrayRows):
            def _gather(self, indices):
                if indices.min() >= lazy_rows.BLOCK_ROWS:
                    os._exit(3)          # power cut: no exception handler, no cleanup
                return super()._gather(indices)

        fs = _frames(n=lazy_rows.BLOCK_ROWS * 2)
        frames_lib.save({str(tmp_path / 'train')!r}, dict(fs, image=Dying(fs['image'])))
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    leftovers = os.listdir(tmp_path)
    assert leftovers and all(name.startswith(".train.frames.") for name in leftovers)   # the hidden temp dir
    assert not frames_lib.exists(str(tmp_path / "train"))
    with pytest.raises(FileNotFoundError):
        frames_lib.load(str(tmp_path / "train"))


def test_a_damaged_store_is_refused(tmp_path):
    path = frames_lib.save(str(tmp_path / "train"), _frames())
    image = os.path.join(path, "image.npy")
    with open(image, "r+b") as f:
        f.truncate(os.path.getsize(image) - 100)
    with pytest.raises(ValueError, match="truncated"):
        frames_lib.load(path)


@pytest.fixture()
def pair(tmp_path):
    """The same frame set eager and loaded lazily from a store."""
    fs = _frames(n=400, subjects=7)
    return fs, frames_lib.load(frames_lib.save(str(tmp_path / "set"), fs))


def test_selection_and_au_subsets_are_views_equal_to_the_eager_result(pair):
    eager, lazy = pair
    rng = np.random.default_rng(2)
    mask = rng.random(400) < 0.4
    order = rng.integers(0, 400, 250)
    for key in (mask, order):
        got = frames_lib.select(lazy, key)
        assert isinstance(got["image"], lazy_rows.IndexView)
        _assert_same(got, frames_lib.select(eager, key))
    twice = frames_lib.select(frames_lib.select(lazy, mask), order[order < mask.sum()])
    assert isinstance(twice["image"].base, lazy_rows.NpyRows)              # views collapse
    _assert_same(twice, frames_lib.select(frames_lib.select(eager, mask), order[order < mask.sum()]))
    aus = ["AU12", "AU01"]
    _assert_same(frames_lib.with_aus(lazy, aus), frames_lib.with_aus(eager, aus))
    assert lazy_rows.is_lazy(frames_lib.with_aus(lazy, aus)["image"])


def test_concatenation_is_a_view_equal_to_the_eager_result(pair, tmp_path):
    eager, lazy = pair
    other = _frames(n=33, seed=9)
    other_lazy = frames_lib.load(frames_lib.save(str(tmp_path / "other"), other))
    parts_eager = [eager, other, frames_lib.select(eager, np.arange(10))]
    parts_lazy = [lazy, other_lazy, frames_lib.select(eager, np.arange(10))]     # mixed lazy / eager
    got = frames_lib.concatenate(parts_lazy)
    assert isinstance(got["image"], lazy_rows.ConcatView)
    want = frames_lib.concatenate(parts_eager)
    _assert_same(got, want)
    idx = np.random.default_rng(3).integers(0, len(want["image"]), 64)
    np.testing.assert_array_equal(got["image"][idx], want["image"][idx])


@pytest.mark.parametrize("kind", ["mean", "au0"])
@pytest.mark.parametrize("flags", [True, False])
def test_normalisation_is_per_batch_and_equal_to_the_eager_result(tmp_path, kind, flags):
    eager = _frames(n=700, subjects=4, neutral=flags)   # several blocks per subject
    lazy = frames_lib.load(frames_lib.save(str(tmp_path / "set"), eager))
    got, want = frames_lib.normalized(lazy, kind), frames_lib.normalized(eager, kind)
    assert isinstance(got["image"], lazy_rows.MappedView)
    _assert_same(got, want)
    idx = np.random.default_rng(4).integers(0, 700, 50)
    np.testing.assert_array_equal(got["image"][idx], want["image"][idx])
    # A synthetic set normalised with its (lazy) source subjects' references.
    synth = _frames(n=90, subjects=4, seed=11, neutral=False)
    synth_lazy = frames_lib.load(frames_lib.save(str(tmp_path / "synth"), synth))
    _assert_same(frames_lib.normalized(synth_lazy, kind, references_from=lazy),
                 frames_lib.normalized(synth, kind, references_from=eager))
    stranger = dict(synth_lazy, subject=np.full(90, "nobody"))
    with pytest.raises(KeyError, match="nobody"):
        frames_lib.normalized(stranger, kind, references_from=lazy)


def test_saving_a_view_writes_its_rows(pair, tmp_path):
    eager, lazy = pair
    view = frames_lib.normalized(frames_lib.select(lazy, np.arange(0, 400, 3)), "mean")
    back = frames_lib.load(frames_lib.save(str(tmp_path / "copy"), view))
    _assert_same(back, frames_lib.normalized(frames_lib.select(eager, np.arange(0, 400, 3)), "mean"))


def test_chunk_files_read_as_one_lazy_array(tmp_path):
    rng = np.random.default_rng(6)
    chunks = [rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8) for n in (7, 0, 12, 5)]
    paths = []
    for c, data in enumerate(chunks):
        paths.append(str(tmp_path / f"chunk_{c}.npz"))
        io_utils.savez(paths[-1], image=data)
    rows = lazy_rows.NpzChunkRows(paths, "image")
    want = np.concatenate(chunks)
    assert rows.shape == want.shape
    idx = rng.integers(0, len(want), 40)
    np.testing.assert_array_equal(rows[idx], want[idx])
    np.testing.assert_array_equal(np.asarray(rows), want)
    assert lazy_rows.NpzChunkRows([], "image", row_shape=(4, 4, 3)).shape == (0, 4, 4, 3)


def _chunks(tmp_path, sizes=(7, 0, 12, 5), seed=6):
    """Chunk files as the offline stages write them (`frame_store.save_chunk`), and their rows."""
    rng = np.random.default_rng(seed)
    data = [rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8) for n in sizes]
    paths = [str(tmp_path / f"chunk_{c:05d}.npz") for c in range(len(sizes))]
    for path, rows in zip(paths, data):
        frame_store.save_chunk(path, rows, label=np.arange(len(rows), dtype=np.int32))
    return paths, np.concatenate(data)


def _chunk_set(paths, want):
    return {"image": frame_store.chunk_images(paths, row_shape=(4, 4, 3)),
            "au_intensity": np.zeros((len(want), len(AUS)), np.int32), "au_names": np.asarray(AUS),
            "subject": np.asarray(["s"] * len(want)), "sequence": np.asarray(["q"] * len(want)),
            "frame": np.arange(len(want), dtype=np.int32), "pose_id": np.zeros(len(want), np.int32)}


def test_a_store_links_the_chunks_image_files_in_as_its_shards(tmp_path):
    paths, want = _chunks(tmp_path)
    # The chunk file holds the other fields; its image rows are a raw .npy beside it.
    with np.load(paths[0]) as z:
        assert z.files == ["label"]
    images = [frame_store.chunk_image_path(p) for p in paths]
    assert images[0] == str(tmp_path / "chunk_00000.image.npy")
    rows = frame_store.chunk_images(paths, row_shape=(4, 4, 3))
    assert isinstance(rows, lazy_rows.NpyFiles) and rows.paths == images
    store = frames_lib.save(str(tmp_path / "set"), _chunk_set(paths, want))
    with open(os.path.join(store, "meta.json")) as f:
        meta = json.load(f)
    assert meta["version"] == 2 and meta["fields"]["image"]["shards"] == [7, 0, 12, 5]
    assert not os.path.exists(os.path.join(store, "image.npy"))
    for k, chunk_image in enumerate(images):  # Linked, not copied: the same file.
        assert os.path.samefile(os.path.join(store, f"image-{k:05d}.npy"), chunk_image)
    for reader in ("pread", "mmap"):
        back = frames_lib.load(store, reader)
        assert back["image"].shape == want.shape
        idx = np.random.default_rng(0).integers(0, len(want), 40)
        np.testing.assert_array_equal(back["image"][idx], want[idx])
        np.testing.assert_array_equal(np.asarray(back["image"]), want)
    # A sharded set saved again (elsewhere) links the same files; an eager copy is a version-1 store.
    again = frames_lib.save(str(tmp_path / "again"), frames_lib.load(store))
    assert os.path.samefile(os.path.join(again, "image-00002.npy"), images[2])
    plain = frames_lib.save(str(tmp_path / "plain"), {k: np.asarray(v) for k, v in frames_lib.load(store).items()})
    with open(os.path.join(plain, "meta.json")) as f:
        assert json.load(f)["version"] == 1
    np.testing.assert_array_equal(np.asarray(frames_lib.load(plain)["image"]), want)


def test_a_sharded_store_with_a_damaged_shard_is_refused(tmp_path):
    paths, want = _chunks(tmp_path)
    store = frames_lib.save(str(tmp_path / "set"), _chunk_set(paths, want))
    shard = os.path.join(store, "image-00002.npy")
    os.remove(shard)
    np.save(shard, want[:3])  # A shard with other rows than meta.json lists.
    with pytest.raises(ValueError, match="image-00002.npy has 3 rows; meta.json says 12"):
        frames_lib.load(store)


def test_where_links_are_refused_the_shards_are_copied(tmp_path, monkeypatch):
    paths, want = _chunks(tmp_path)

    def refuse(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    store = frames_lib.save(str(tmp_path / "set"), _chunk_set(paths, want))
    shard = os.path.join(store, "image-00000.npy")
    assert not os.path.samefile(shard, frame_store.chunk_image_path(paths[0]))
    np.testing.assert_array_equal(np.asarray(frames_lib.load(store)["image"]), want)


def test_chunks_an_earlier_version_wrote_are_read_from_the_npz_and_copied(tmp_path):
    paths, want = _chunks(tmp_path)
    # Chunk 2 as before sidecar image files: its rows inside the .npz.
    os.remove(frame_store.chunk_image_path(paths[2]))
    io_utils.savez(paths[2], image=want[7:19], label=np.arange(12, dtype=np.int32))
    rows = frame_store.chunk_images(paths, row_shape=(4, 4, 3))
    assert not isinstance(rows, lazy_rows.NpyFiles)
    np.testing.assert_array_equal(np.asarray(rows), want)
    store = frames_lib.save(str(tmp_path / "set"), _chunk_set(paths, want))
    assert os.path.isfile(os.path.join(store, "image.npy"))
    np.testing.assert_array_equal(np.asarray(frames_lib.load(store)["image"]), want)


def test_many_shards_hold_no_open_descriptors(tmp_path, monkeypatch):
    monkeypatch.setattr(lazy_rows.NpyFiles, "MAX_OPEN", 2)
    paths, want = _chunks(tmp_path)
    rows = frame_store.chunk_images(paths, row_shape=(4, 4, 3))
    before = len(os.listdir("/proc/self/fd"))
    idx = np.random.default_rng(1).integers(0, len(want), 30)
    np.testing.assert_array_equal(rows[idx], want[idx])
    assert len(os.listdir("/proc/self/fd")) == before
    monkeypatch.setattr(lazy_rows.NpyFiles, "MAX_OPEN", 64)
    kept = frame_store.chunk_images(paths, row_shape=(4, 4, 3))
    np.testing.assert_array_equal(kept[idx], want[idx])
    assert len(os.listdir("/proc/self/fd")) == before + 3  # Every non-empty shard's file stays open.


def _batches(frames, start, stop, process_index=0, process_count=1, batch=8):
    from jaxau.train import estimator, input as input_lib

    pool = np.random.default_rng(0).integers(0, len(frames["image"]), 150)     # a plan with repeats
    source = estimator.PlanSource(frames, pool, np.full(len(pool), -1, np.int32))
    sampler = input_lib.StepSampler(np.arange(len(pool)), batch, seed=3, process_index=process_index,
                                    process_count=process_count)
    return [b for b in input_lib.make_dataset(source, sampler, start, stop).as_numpy_iterator()]


def test_a_resumed_run_reads_the_same_batches_from_disk(pair):
    eager, lazy = pair
    lazy = frames_lib.normalized(frames_lib.select(lazy, np.arange(1, 400)), "mean")
    eager = frames_lib.normalized(frames_lib.select(eager, np.arange(1, 400)), "mean")
    full = _batches(eager, 0, 30)           # 30 steps of 8 > the 150-entry pool: crosses epochs
    resumed = _batches(lazy, 17, 30)
    assert len(resumed) == 13
    for got, want in zip(resumed, full[17:]):
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


_WORKER = """
import sys, numpy as np
from jaxau.data import frames as frames_lib
from tests.data.test_frame_store import _batches
path, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for p in range(count):
    # Each share from its own load of the store: nothing carries over from another process index.
    batches = _batches(frames_lib.load(path), 0, 6, process_index=p, process_count=count)
    np.savez(f"{out}{p}.npz", **{f"{k}_{s}": b[k] for s, b in enumerate(batches) for k in b})
"""


def test_each_process_reads_its_own_share_of_every_global_batch(pair, tmp_path):
    """A process other than the writer opens the store: process p gets the p-th quarter of each
    global batch (the four process indices in one child: the test machines are small, and each
    extra interpreter costs ~15 s of imports)."""
    eager, _ = pair
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    full = _batches(eager, 0, 6)
    count, shares = 4, []
    out = str(tmp_path / "p")
    proc = subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path / "set"), str(count), out],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for p in range(count):
        with np.load(f"{out}{p}.npz") as z:
            shares.append({k: z[k] for k in z.files})
    for s, want in enumerate(full):
        for k in want:
            got = [shares[p][f"{k}_{s}"] for p in range(count)]
            assert all(len(g) == 2 for g in got)
            np.testing.assert_array_equal(np.concatenate(got), want[k])


_RSS_WORKER = """
import sys, numpy as np
from jaxau.data import frames as frames_lib
frames = frames_lib.with_aus(frames_lib.load(sys.argv[1]), ["AU06"])
view = frames_lib.concatenate([frames_lib.select(frames, np.arange(0, len(frames["image"]), 2)), frames])
rng = np.random.default_rng(0)
for _ in range(20):
    assert view["image"][rng.integers(0, len(view["image"]), 64)].shape == (64, 256, 256, 3)
# VmHWM, not ru_maxrss: the latter carries the forking pytest process's peak across exec.
print(next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def test_a_set_larger_than_the_memory_limit_is_read_in_batches(tmp_path):
    """A 6 GiB store (sparse file) is loaded, viewed and sampled by a process capped at 2 GiB."""
    n, size = 32768, 256
    fs = _frames(n=4, size=size)
    small = frames_lib.save(str(tmp_path / "big"), fs)
    header = 128
    image = os.path.join(small, "image.npy")
    with open(image, "r+b") as f:
        f.seek(0)
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                 "shape": (n, size, size, 3)})
        header = f.tell()
        f.truncate(header + n * size * size * 3)
    for name, value in fs.items():
        if name not in ("image", "au_names"):
            np.save(os.path.join(small, f"{name}.npy"), np.resize(value, (n,) + value.shape[1:]))
    meta_path = os.path.join(small, frame_store.META_FILE)
    with open(meta_path) as f:
        meta = json.load(f)
    for name, info in meta["fields"].items():
        if name != "au_names":
            info["shape"][0] = n
    meta["num_frames"] = n
    io_utils.write_json(meta_path, meta)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    limit = "import resource; resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))\n"
    proc = subprocess.run([sys.executable, "-c", limit + _RSS_WORKER, small], cwd=root, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) < 1 << 30


def test_streamed_batches_write_the_same_store(tmp_path):
    fs = _frames(n=70)
    cuts = [0, 25, 26, 60, 70]
    batches = ({k: v[a:b] for k, v in fs.items() if k != "au_names"} for a, b in zip(cuts, cuts[1:]))
    path = frame_store.write_batches(str(tmp_path / "s.npz"), batches,
                                     lambda f: dict(f, au_names=fs["au_names"]))
    back = frames_lib.load(path)
    assert lazy_rows.is_lazy(back["image"])
    _assert_same(back, fs)
    assert np.load(os.path.join(path, "image.npy"), mmap_mode="r").shape == fs["image"].shape   # plain .npy

    def refuse(f):
        raise ValueError("labels do not validate")

    with pytest.raises(ValueError, match="do not validate"):
        frame_store.write_batches(str(tmp_path / "t"), iter([{"image": fs["image"][:3]}]), refuse)
    mixed = iter([{"image": fs["image"][:3]}, {"image": np.zeros((2, 4, 4, 3), np.uint8)}])
    with pytest.raises(ValueError, match="one image size"):
        frame_store.write_batches(str(tmp_path / "t"), mixed, dict)
    assert sorted(os.listdir(tmp_path)) == ["s.frames"]


def test_a_dataset_split_streams_into_a_store_equal_to_the_in_memory_read(request, tmp_path):
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    kwargs = dict(data_dir=data_dir, image_size=16, aus=["AU12", "AU01"])
    streamed = frames_lib.save_tfds(str(tmp_path / "train.frames"), "synthfacs/fera_small", "train", **kwargs)
    assert lazy_rows.is_lazy(streamed["image"])
    _assert_same(streamed, frames_lib.load_tfds("synthfacs/fera_small", "train", **kwargs))
    _assert_same(frames_lib.load(str(tmp_path / "train.npz")), streamed)


def test_cached_splits_are_keyed_by_their_settings_and_the_dataset_files(request, tmp_path):
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    cache = str(tmp_path / "frames")
    kwargs = dict(data_dir=data_dir, image_size=16, aus=["AU12", "AU01"])
    first = frames_lib.cached_tfds(cache, "synthfacs/fera_small", "train", **kwargs)
    assert lazy_rows.is_lazy(first["image"])
    _assert_same(first, frames_lib.load_tfds("synthfacs/fera_small", "train", **kwargs))
    (store,) = os.listdir(cache)
    # Reused: the same call writes nothing (the store's files keep their times).
    before = {f: os.stat(os.path.join(cache, store, f)).st_mtime_ns for f in os.listdir(os.path.join(cache, store))}
    _assert_same(frames_lib.cached_tfds(cache, "synthfacs/fera_small", "train", **kwargs), first)
    assert os.listdir(cache) == [store]
    assert {f: os.stat(os.path.join(cache, store, f)).st_mtime_ns
            for f in os.listdir(os.path.join(cache, store))} == before
    # Another size, AU list or pose filter is another store.
    frames_lib.cached_tfds(cache, "synthfacs/fera_small", "train", **dict(kwargs, image_size=8))
    frames_lib.cached_tfds(cache, "synthfacs/fera_small", "train", **dict(kwargs, aus=["AU12"]))
    assert len(os.listdir(cache)) == 3
    # A dataset rebuilt in place (its files change) is read again, not served from the stale store.
    from jaxau.data import registry
    built = registry.builder("synthfacs/fera_small", data_dir=data_dir).data_dir
    info = os.path.join(built, "dataset_info.json")
    stat = os.stat(info)
    try:
        os.utime(info, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
        frames_lib.cached_tfds(cache, "synthfacs/fera_small", "train", **kwargs)
        assert len(os.listdir(cache)) == 4
    finally:
        os.utime(info, ns=(stat.st_atime_ns, stat.st_mtime_ns))
