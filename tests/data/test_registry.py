"""The dataset registry: names, AU vocabularies, common AUs, lazy builder import."""

import math
import subprocess
import sys

import pytest

from jaxau import au as au_lib
from jaxau.data import registry


def test_common_aus_matches_paper_table4():
    assert registry.common_aus("fera2017", "disfa") == ("AU01", "AU04", "AU06", "AU12", "AU17")
    assert registry.common_aus("disfa/right", "fera2017") == ("AU01", "AU04", "AU06", "AU12", "AU17")
    assert registry.common_aus("fera2017", "bp4d") == ("AU06", "AU10", "AU12", "AU14", "AU17")
    assert registry.common_aus("fera2017", "unbc_pain") == ("AU04", "AU06", "AU10", "AU12")
    assert registry.common_aus("fera2017", "multipie") == ()


def test_synthfacs_entry():
    e = registry.get("synthfacs/fera_small")
    assert e.module == "jaxau.data.synthfacs"
    assert {"fera", "multipie", "disfa", "fera_small", "fera_demo", "multipie_small", "disfa_small",
            "fera_frontal", "unbc", "unbc_small", "fera_demo_large", "fera_medium"} == set(e.configs)
    # New configs go at the end: the first is TFDS's default and existing builds are keyed by name.
    assert e.configs[-2:] == ("fera_demo_large", "fera_medium")
    assert registry.au_names("synthfacs/disfa_small") == au_lib.DISFA_AUS
    assert registry.common_aus("synthfacs/fera", "fera2017") == au_lib.FERA2017_AUS
    assert registry.common_aus("synthfacs/disfa", "disfa/left") == au_lib.DISFA_AUS
    assert registry.common_aus("synthfacs/fera", "disfa") == ("AU01", "AU04", "AU06", "AU12", "AU17")


def test_unknown_names_are_explained():
    with pytest.raises(KeyError, match="registered: .*disfa"):
        registry.get("disfaa")
    with pytest.raises(KeyError, match=r"configs: \['left', 'right'\]"):
        registry.get("disfa/center")


def test_pose_info_unknown_angles_are_nan():
    poses = registry.pose_info("fera2017")
    assert sorted(poses) == list(range(1, 10))
    assert all(math.isnan(y) and math.isnan(p) for _, y, p in poses.values())


def test_import_is_cheap_and_lazy():
    code = ("import sys; import jaxau.data.registry as r; r.common_aus('fera2017','disfa');"
            "assert 'tensorflow' not in sys.modules and 'tensorflow_datasets' not in sys.modules;"
            "assert not any(m.startswith('jaxau.data.builders.') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_matches_every_builder_config():
    """The registry's static AU lists agree with what each builder (and config) declares."""
    pytest.importorskip("tensorflow_datasets")
    for name in registry.names():
        entry = registry.get(name)
        cls = registry.builder_class(name)
        assert cls.name == name
        assert [c.name for c in cls.BUILDER_CONFIGS] == list(entry.configs), name
        for config in entry.configs:
            b = registry.builder(f"{name}/{config}", data_dir="/nonexistent")
            want = registry.au_names(f"{name}/{config}")
            assert tuple(b.info.metadata["au_names"]) == want, (name, config)
            assert b.info.features["au_intensity"].shape == (len(want),)
            occ = tuple(b.info.metadata.get("occurrence_au_names", ()))
            assert occ == entry.occurrence_au_names, name
        assert registry.au_names(name) == registry.au_names(f"{name}/{entry.configs[0]}")


def test_a_killed_build_leaves_nothing_behind(tmp_path):
    import os

    from jaxau.data import resolve

    builder = registry.builder("synthfacs/fera_small", data_dir=str(tmp_path))
    parent = os.path.dirname(os.fspath(builder.data_dir).rstrip("/"))
    stale = os.path.join(parent, f"incomplete.1a2b3c_{builder.version}")
    other = os.path.join(parent, "incomplete.1a2b3c_0.0.1")  # Another version's build: not ours.
    for d in (stale, other):
        os.makedirs(os.path.join(d, "train"))
    assert not builder.is_prepared()
    assert resolve.remove_stale_builds(builder) == [stale]
    assert not os.path.exists(stale) and os.path.exists(other)
