"""AU timelines: base rates, skew, co-occurrence, label ranges, posed expressions."""

import numpy as np
import pytest

from jaxau.face import au_mapping, sequences, synth

AUS = au_mapping.SIMULATED_AUS


@pytest.fixture(scope="module")
def long_run():
    cfg = sequences.TimelineConfig(occupancy=dict(synth.FERA_OCCUPANCY))
    rng = np.random.default_rng(0)
    runs = [sequences.intensities(cfg, AUS, 3000, rng) for _ in range(60)]  # 180k frames = 100 min
    inten = np.concatenate([r[0] for r in runs])
    active = np.concatenate([r[1] for r in runs])
    return cfg, inten, active


def test_event_occupancy_matches_configured_base_rates(long_run):
    cfg, _, active = long_run
    for j, ev in enumerate(sorted(cfg.occupancy)):
        target = cfg.occupancy[ev]
        got = active[:, j].mean()
        # Renewal-process sampling error: ~250 episodes of a 10 % event in 180k frames -> ~10 %.
        assert abs(got - target) < max(0.2 * target, 0.006), (ev, got, target)


def test_labels_are_skewed_like_spontaneous_data(long_run):
    _, inten, _ = long_run
    labels = sequences.labels_from_intensity(inten)
    assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() <= 5
    present = (labels > 0).mean(0)
    assert (present < 0.5).all(), dict(zip(AUS, present))  # every AU mostly absent
    assert (present > 0.0).all()
    high = (labels >= 4).mean()
    low = ((labels >= 1) & (labels <= 2)).mean()
    assert high < 0.25 * low  # high levels are rare
    assert (labels == 5).mean() < 0.01
    # Every level occurs for the main FERA AUs.
    for au in ("AU06", "AU12"):
        assert set(np.unique(labels[:, AUS.index(au)])) == set(range(6))


def test_co_occurrence(long_run):
    _, inten, _ = long_run
    lab = sequences.labels_from_intensity(inten) > 0
    col = {a: lab[:, AUS.index(a)] for a in AUS}

    def p(a, given):
        return (col[a] & col[given]).sum() / col[given].sum()

    assert p("AU12", "AU06") > 0.8  # AU06 almost only appears within smiles
    assert p("AU02", "AU01") > 2 * col["AU02"].mean()
    assert p("AU07", "AU04") > 2 * col["AU07"].mean()
    assert p("AU17", "AU15") > 2 * col["AU17"].mean()


def test_episode_shape_onset_apex_offset():
    cfg = sequences.TimelineConfig(occupancy={"smile": 0.5})
    rng = np.random.default_rng(3)
    events = {"smile": [(10, 10, 20, 10, 4.0, {"AU12": 1.0})]}
    inten, active = sequences.intensities(
        sequences.TimelineConfig(occupancy={"smile": 0.5}, jitter=0.0), AUS, 60, rng, events=events)
    a = inten[:, AUS.index("AU12")]
    assert (a[:10] == 0).all() and (a[50:] == 0).all()
    assert (np.diff(a[10:20]) > 0).all() and np.allclose(a[20:40], 4.0) and (np.diff(a[40:50]) < 0).all()
    assert active[10:50, 0].all() and not active[:10, 0].any()
    del cfg


def test_determinism_and_bad_config():
    cfg = sequences.TimelineConfig(occupancy={"smile": 0.3, "blink": 0.05})
    a = sequences.intensities(cfg, AUS, 500, np.random.default_rng(1))[0]
    b = sequences.intensities(cfg, AUS, 500, np.random.default_rng(1))[0]
    assert a.tobytes() == b.tobytes()
    with pytest.raises(ValueError, match="unknown events"):
        sequences.TimelineConfig(occupancy={"laugh": 0.3})
    with pytest.raises(ValueError, match="must lie in"):
        sequences.TimelineConfig(occupancy={"smile": 1.2})


def test_posed_expressions():
    rng = np.random.default_rng(0)
    smile = sequences.posed_intensity("smile", AUS, rng)
    assert smile[AUS.index("AU12")] > 3.5 and smile[AUS.index("AU04")] == 0
    assert not sequences.posed_intensity("neutral", AUS, rng).any()
    with pytest.raises(KeyError, match="known"):
        sequences.posed_intensity("laugh", AUS, rng)
