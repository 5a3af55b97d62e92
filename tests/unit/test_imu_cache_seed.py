"""The committed IMU training cache: a set of files is copied into the cache whole, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroedge.imu.cache_seed import fetch


def test_fetch_copies_a_whole_set_and_only_where_the_cache_lacks_it(tmp_path: Path) -> None:
    seed, cache = tmp_path / "seed", tmp_path / "cache"
    seed.mkdir()
    (seed / "net-abc.npz").write_bytes(b"weights")
    (seed / "net-abc.json").write_text("{}")
    assert fetch(cache, ("net-abc.npz", "net-abc.json", "net-abc-more.json"), seed) is False  # seed lacks one
    assert not cache.exists()
    assert fetch(cache, ("net-abc.npz", "net-abc.json"), seed) is True
    assert (cache / "net-abc.npz").read_bytes() == b"weights"
    (cache / "net-abc.npz").write_bytes(b"trained here")
    assert fetch(cache, ("net-abc.npz", "net-abc.json"), seed) is False  # the cache's own copy is kept
    assert (cache / "net-abc.npz").read_bytes() == b"trained here"
    assert not list(cache.glob(".*"))  # no temporary file left behind


def test_fetch_refuses_what_would_need_unpickling(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"x")
    with pytest.raises(ValueError, match="only .json and .npz"):
        fetch(tmp_path / "cache", ("model.pkl",), tmp_path)
