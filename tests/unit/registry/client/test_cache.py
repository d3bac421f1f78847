"""The client's cache file: atomic, private, and ignored when unusable."""

from __future__ import annotations

import stat
from pathlib import Path

from inmesh.registry.client._cache import CachedSnapshot, read_cache, write_cache


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "view.json"
    snap = CachedSnapshot(
        registry="http://r", store_id="store-1", revision=7, documents=({"kind": "X"},)
    )
    write_cache(path, snap)
    assert read_cache(path) == snap
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["view.json"]  # no temporary left


def test_missing_or_corrupt_cache_is_none(tmp_path: Path) -> None:
    assert read_cache(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{truncated")
    assert read_cache(bad) is None
    bad.write_text('{"format": 99}')
    assert read_cache(bad) is None
