"""benchmarks/frame_assembly.py: both ways assemble the same rows; the linked way shares the chunks' files."""

import os
import subprocess
import sys

import numpy as np

from benchmarks import frame_assembly
from jaxau.data import frames as frames_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_copy_and_link_assemble_the_same_set(tmp_path, capsys):
    record = frame_assembly.main(["--workdir", str(tmp_path), "--frames", "50", "--size", "8", "--chunk", "16",
                                  "--batches", "3", "--out", str(tmp_path / "r.json")])
    copy, link = record["ways"]
    assert (copy["way"], link["way"]) == ("copy", "link") and copy["chunks"] == link["chunks"] == 4
    assert record["same_images"]
    want = np.asarray(frames_lib.load(copy["store"])["image"])
    assert want.shape == (50, 8, 8, 3) and want.any()
    # The linked store's shards are the chunks' image files; the copied one has a single image.npy.
    assert os.path.samefile(os.path.join(link["store"], "image-00003.npy"),
                            str(tmp_path / "link" / "chunks" / "train-00003.image.npy"))
    assert os.path.isfile(os.path.join(copy["store"], "image.npy"))
    assert link["disk_mb"] < copy["disk_mb"]
    assert "| link |" in capsys.readouterr().out and (tmp_path / "r.json").exists()


def test_bad_sizes_get_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "frame_assembly.py"), "--workdir",
                           str(tmp_path), "--chunk", "0"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "frame_assembly: --frames, --chunk and --size must be positive."]
