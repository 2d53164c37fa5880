"""`jaxau.hosts`: shares of chunked work, waits that end, failure markers scoped to one run."""

import os
import threading
import time

import pytest

from jaxau import hosts, io_utils


def test_shares_cover_every_item_once():
    n = 11
    shares = [hosts.Share(i, 3, "t") for i in range(3)]
    got = sorted(k for s in shares for k in s.mine(n))
    assert got == list(range(n))
    assert shares[1].mine(n) == [1, 4, 7, 10]
    assert hosts.Share().mine(4) == [0, 1, 2, 3] and hosts.Share().leader and not shares[2].leader
    with pytest.raises(ValueError, match="index"):
        hosts.Share(3, 3)


def test_wait_returns_when_a_peer_writes_its_files(tmp_path):
    paths = [str(tmp_path / f"c{i}") for i in range(3)]
    for p in paths[:2]:
        io_utils.write_text(p, "x")
    share = hosts.Share(0, 2, "t", timeout_s=30, poll_s=0.02)
    writer = threading.Timer(0.2, lambda: io_utils.write_text(paths[2], "x"))
    writer.start()
    t0 = time.monotonic()
    share.wait_for(paths, str(tmp_path), "chunks")
    assert 0.15 < time.monotonic() - t0 < 10


def test_wait_stops_with_the_failed_peers_message_of_this_run_only(tmp_path):
    d = str(tmp_path)
    p0 = hosts.Share(0, 2, "run2", timeout_s=0.3, poll_s=0.02)
    # An earlier run's marker is not this run's failure: the wait times out instead.
    hosts.Share(1, 2, "run1").fail(d, "old failure")
    with pytest.raises(TimeoutError, match="process 0 of 2"):
        p0.wait_for([os.path.join(d, "never")], d, "chunks")
    hosts.Share(1, 2, "run2").fail(d, "disk full writing chunk 3")
    with pytest.raises(hosts.PeerFailed, match="chunks: process 1 failed: disk full writing chunk 3"):
        p0.wait_for([os.path.join(d, "never")], d, "chunks")
    # A process does not stop on its own marker.
    assert hosts.Share(1, 2, "run2").failures(d) == []


def test_single_process_never_waits(tmp_path):
    share = hosts.Share()
    share.wait_for([], str(tmp_path), "nothing")
    share.fail(str(tmp_path), "not written")
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="1 files missing"):
        share.wait_for([str(tmp_path / "x")], str(tmp_path), "chunks")


def test_activate_scopes_the_share():
    assert hosts.active() == hosts.Share()
    with hosts.activate(hosts.Share(1, 2, "t")) as s:
        assert hosts.active() is s
    assert hosts.active() == hosts.Share()
