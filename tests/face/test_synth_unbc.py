"""The ``unbc`` SynthFACS configs (UNBC-McMaster's role in Table S5): pain episodes, UNBC's AUs."""

import numpy as np

from jaxau.face import sequences, synth


def test_config_and_pain_labels():
    cfg = synth.get_config("unbc_small")
    assert cfg.domain == "unbc" and cfg.aus == synth.UNBC_AUS and "AU43" not in cfg.aus
    # Table S5 scores the FERA AUs UNBC codes: all simulated here.
    assert {"AU04", "AU06", "AU10", "AU12"} <= set(cfg.aus)
    frames = [f for i in range(3) for f in synth.subject_frames(synth.get_config("unbc"), "train", i)]
    labels = np.stack([f["labels"] for f in frames])
    col = {a: labels[:, synth.UNBC_AUS.index(a)] for a in ("AU04", "AU06", "AU07", "AU12")}
    # Pain co-activates brow lowering and orbit tightening (AU04/06/07); smiles are rarer here.
    assert 0.05 < (col["AU06"] > 0).mean() < 0.6 and (col["AU07"] > 0).mean() > 0.05
    both = (col["AU06"] > 0) & (col["AU07"] > 0)
    assert both.mean() > 0.5 * min((col["AU06"] > 0).mean(), (col["AU07"] > 0).mean())
    assert (col["AU12"] > 0).mean() < (col["AU06"] > 0).mean()


def test_pain_event_is_known_to_timelines_and_renders():
    assert "pain" in sequences.EVENTS and synth.get_config("unbc").timeline.occupancy["pain"] > 0
    _, ex = next(synth.generate_examples("unbc_small", "test", subjects=[0], max_frames_per_subject=1))
    assert ex["image"].shape == (128, 128, 3) and ex["au_intensity"].shape == (len(synth.UNBC_AUS),)


def test_paper_configs_label_each_domains_simulated_aus():
    from configs.paper import base

    for size in base.SIZES:
        c = base.base_config(size)
        assert c.domains.unbc.aus == ",".join(synth.UNBC_AUS)
        assert c.domains.multipie.aus == ",".join(synth.MULTIPIE_AUS)
