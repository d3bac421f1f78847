"""The data directory's admin token file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from inmesh.registry._data import default_data_dir, ensure_admin_token, read_admin_token


def test_admin_token_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = ensure_admin_token(data)
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    assert ensure_admin_token(data) == token == read_admin_token(data)
    assert read_admin_token(tmp_path / "elsewhere") is None


def test_the_data_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INMESH_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("INMESH_DATA")
    assert default_data_dir() == Path.home() / ".inmesh"
