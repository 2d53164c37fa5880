"""The ``synthfacs`` TFDS builder builds offline and loads back with ``download=False``."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

import jaxau.data.synthfacs  # noqa: E402,F401  (registers the builder)
from jaxau import au as au_lib  # noqa: E402
from jaxau.face import au_mapping, synth  # noqa: E402

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


def test_a_changed_domain_config_or_version_changes_the_data_stage_key(monkeypatch):
    import dataclasses

    import ml_collections

    from jaxau.stages import STAGES, runner

    data = STAGES["data"]

    def key(name):
        return runner.stage_key(data, ml_collections.ConfigDict({"data": {"name": name}}), [])

    assert str(jaxau.data.synthfacs.Synthfacs.VERSION) == synth.VERSION
    before = key("synthfacs/fera_demo_large")
    assert key("synthfacs/fera_demo_large") == before
    cfg = synth.get_config("fera_demo_large")
    # One validation subject fewer: same config name, other frames -> another stage (no stale build).
    fewer = dataclasses.replace(cfg, subjects={**cfg.subjects, "validation": 11})
    monkeypatch.setitem(synth.CONFIGS, "fera_demo_large", fewer)
    assert key("synthfacs/fera_demo_large") != before
    monkeypatch.setitem(synth.CONFIGS, "fera_demo_large", cfg)
    assert key("synthfacs/fera_demo_large") == before
    monkeypatch.setattr(synth, "VERSION", "0.0.1")
    assert key("synthfacs/fera_demo_large") != before
    # A licensed dataset is the user's files: its key is the config's fields alone.
    bare = dataclasses.replace(data, fingerprint="")
    real = ml_collections.ConfigDict({"data": {"name": "fera2017"}})
    assert runner.stage_key(data, real, []) == runner.stage_key(bare, real, [])
    # An unknown config adds nothing here: the data stage's check names it in one line.
    from jaxau.data import resolve

    assert resolve.fingerprint(ml_collections.ConfigDict({"data": {"name": "synthfacs/nope"}})) == {}


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


# AU -> (band of the face it must change, band it must leave alone); bands split at the lower eyelids
# and the nose base (landmarks of the neutral render).
SINGLE_AUS = {"AU01": ("upper", "lower"), "AU04": ("upper", "lower"), "AU12": ("lower", "upper"),
              "AU26": ("lower", "upper")}


@pytest.fixture(scope="module")
def rerendered(built):
    """The stored validation examples, their render requests and one extra render batch.

    The batch holds the requests in reverse order (every frame gets different batch neighbours than
    in the build) followed by the neutral frame's request with a single AU at level E, for four AUs.
    Its 16 frames fill one batch of the builder's compiled shape, so nothing is recompiled.
    """
    data_dir, _ = built
    cfg = synth.get_config("multipie_small")
    ds = tfds.load(NAME, data_dir=data_dir, split="validation", download=False)
    stored = {(e["sequence"].decode(), int(e["frame"])): e for e in tfds.as_numpy(ds)}
    requests = synth.subject_frames(cfg, "validation", 0)
    assert len(requests) == len(stored) == 12
    neutral = next(r for r in requests if r["neutral"])
    variants = []
    for au in sorted(SINGLE_AUS):
        intensity = np.zeros_like(neutral["intensity"])
        intensity[au_mapping.SIMULATED_AUS.index(au)] = 5.0
        variants.append({**neutral, "intensity": intensity})
    out = synth.render_frames(cfg, requests[::-1] + variants)
    return cfg, stored, requests, neutral, out[:12][::-1], out[12:]


def test_stored_examples_are_their_requests_re_rendered(rerendered):
    """Each stored example carries the labels of its render request, and rendering that request
    again (with other batch neighbours) reproduces the stored pixels and geometry exactly: the pixels
    show the expression the labels describe, not a neighbour's."""
    cfg, stored, requests, _, again, _ = rerendered
    label_idx = [au_mapping.SIMULATED_AUS.index(a) for a in cfg.aus]
    for req, out in zip(requests, again):
        s = stored[(req["sequence"], req["frame"])]
        np.testing.assert_array_equal(s["au_intensity"], req["labels"])
        np.testing.assert_array_equal(s["au_intensity"],
                                      au_lib.level_from_intensity(req["intensity"])[label_idx])
        np.testing.assert_allclose(s["au_intensity_continuous"], req["intensity"][label_idx])
        assert bool(s["neutral"]) == bool((au_lib.level_from_intensity(req["intensity"]) == 0).all())
        mismatch = np.mean(s["image"] != out["image"])
        assert mismatch == 0.0, f"{req['sequence']}/{req['frame']}: {mismatch:.1%} of pixels differ"
        np.testing.assert_array_equal(s["vertices"], out["vertices"])


@pytest.mark.parametrize("au", sorted(SINGLE_AUS))
def test_an_au_at_level_e_changes_mostly_its_own_region(rerendered, au):
    """The neutral frame re-rendered with one AU at E differs from the stored neutral frame by a
    visible amount, mostly in the AU's band of the face (brow AUs: > 90% above the lower eyelids;
    mouth AUs: > 60% below the nose base, the rest on the cheeks) and < 5% in the opposite band."""
    _, stored, _, neutral, _, variants = rerendered
    base = stored[(neutral["sequence"], neutral["frame"])]
    lm = base["landmarks_2d"]
    rows = np.arange(base["image"].shape[0])
    bands = {"upper": rows < lm[36:48, 1].max(), "lower": rows > lm[33, 1]}
    diff = np.abs(variants[sorted(SINGLE_AUS).index(au)]["image"].astype(np.float64)
                  - base["image"]).sum(-1)
    own, other = SINGLE_AUS[au]
    assert diff.mean() > 1.0, f"{au} at E changes the image by {diff.mean():.3f} levels per pixel"
    share = {b: diff[m].sum() / diff.sum() for b, m in bands.items()}
    assert share[own] > (0.9 if own == "upper" else 0.6), share
    assert share[other] < 0.05, share
