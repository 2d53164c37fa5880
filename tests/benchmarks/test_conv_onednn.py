"""`benchmarks/conv_onednn.py`: the layer shapes it times are the estimator's, and a prefix without
oneDNN is refused in one line before anything is built."""

import pytest

from benchmarks import conv_onednn


def test_a_prefix_without_onednn_is_refused_with_exit_2(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libdnnl.so").write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        conv_onednn.check_prefix(str(tmp_path))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "include/oneapi/dnnl/dnnl.hpp not found" in err and "onednn-devel-cpu-gomp" in err


def test_a_complete_prefix_is_accepted(tmp_path):
    (tmp_path / "include" / "oneapi" / "dnnl").mkdir(parents=True)
    (tmp_path / "include" / "oneapi" / "dnnl" / "dnnl.hpp").write_text("")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libdnnl.so").write_bytes(b"")
    assert conv_onednn.check_prefix(str(tmp_path)) == str(tmp_path)


def test_the_layers_are_vgg16s_at_the_demo_shape():
    # VGG16 configuration D at width 1/8 (64 -> 8 channels ...) and 64 px: two convolutions per
    # block at 64 and 32 px, three at 16, 8 and 4 px; each block halves the side.
    layers = conv_onednn.vgg_layers(64, 0.125)
    assert [(side, ci, co) for _, side, ci, co in layers] == [
        (64, 3, 8), (64, 8, 8), (32, 8, 16), (32, 16, 16), (16, 16, 32), (16, 32, 32), (16, 32, 32),
        (8, 32, 64), (8, 64, 64), (8, 64, 64), (4, 64, 64), (4, 64, 64), (4, 64, 64)]
    assert layers[0][0] == "block1_conv1" and layers[-1][0] == "block5_conv3"
