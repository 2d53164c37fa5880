"""The ``synthfacs`` TFDS builder builds offline and loads back with ``download=False``."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

import jaxau.data.synthfacs  # noqa: E402,F401  (registers the builder)
from jaxau.face import synth  # noqa: E402

NAME = "synthfacs/multipie_small"  # the cheapest small variant: 5 subjects x 12 frames


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = tfds.builder(NAME, data_dir=data_dir)
    builder.download_and_prepare()
    return data_dir, builder


def test_registered_configs():
    names = {c.name for c in jaxau.data.synthfacs.Synthfacs.BUILDER_CONFIGS}
    assert {"fera", "fera_small", "multipie", "multipie_small", "disfa", "disfa_small"} <= names


def test_builds_and_loads_offline(built):
    data_dir, builder = built
    cfg = synth.get_config("multipie_small")
    assert builder.info.metadata["au_names"] == list(cfg.aus)
    subjects = {}
    for split in synth.SPLITS:
        ds = tfds.load(NAME, data_dir=data_dir, split=split, download=False)
        exs = list(tfds.as_numpy(ds))
        assert len(exs) == cfg.subjects[split] * cfg.examples_per_subject()
        subjects[split] = {e["subject"].decode() for e in exs}
        assert len(subjects[split]) == cfg.subjects[split]
        for e in exs:
            assert e["image"].shape == (128, 128, 3) and e["image"].dtype == np.uint8
            assert e["au_intensity"].shape == (len(cfg.aus),)
            assert e["au_intensity"].min() >= 0 and e["au_intensity"].max() <= 5
            assert e["uv_position_map"].shape == (128, 128, 3)
            assert e["pose"]["id"] == 0 and e["pose"]["yaw"] == 0.0
        # Posed sessions: the neutral one is flagged neutral, the others carry AUs.
        neutral = [e for e in exs if e["sequence"].decode().endswith("-neutral")]
        assert neutral and all(e["neutral"] for e in neutral)
        assert sum(bool(e["au_intensity"].any()) for e in exs) >= len(exs) - len(neutral)
    # Subject-disjoint splits.
    assert not subjects["train"] & subjects["validation"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["validation"] & subjects["test"]


def test_builder_matches_pure_python_generator(built):
    data_dir, _ = built
    ds = tfds.load(NAME, data_dir=data_dir, split="validation", download=False)
    stored = {(e["sequence"].decode(), int(e["frame"])): e for e in tfds.as_numpy(ds)}
    key, ex = next(synth.generate_examples("multipie_small", "validation", subjects=[0]))
    s = stored[(ex["sequence"], int(ex["frame"]))]
    assert s["image"].tobytes() == ex["image"].tobytes()
    np.testing.assert_array_equal(s["vertices"], ex["vertices"])
    np.testing.assert_array_equal(s["au_intensity"], ex["au_intensity"])
