"""The client's cache file: the last snapshot it received, so that a process restarted
while the registry is down still starts with the configuration it last had.

Written atomically (a temporary file in the same directory, fsync'd, then renamed over
the old one), so a crash mid-write leaves the previous cache intact; mode 0600, as the
snapshot is the mesh's configuration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CachedSnapshot", "read_cache", "write_cache"]

log = logging.getLogger("inmesh.registry")

_FORMAT = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedSnapshot:
    registry: str
    store_id: str
    revision: int
    documents: tuple[Mapping[str, Any], ...]


def write_cache(path: str | os.PathLike[str], snapshot: CachedSnapshot) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(
        {
            "format": _FORMAT,
            "registry": snapshot.registry,
            "store": snapshot.store_id,
            "revision": snapshot.revision,
            "resources": list(snapshot.documents),
        },
        separators=(",", ":"),
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_cache(path: str | os.PathLike[str]) -> CachedSnapshot | None:
    """The cached snapshot, or None when there is none or it cannot be used."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring registry cache %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        log.warning("ignoring registry cache %s: not a format %d cache", path, _FORMAT)
        return None
    resources: Sequence[Any] = data.get("resources") or ()
    return CachedSnapshot(
        registry=str(data.get("registry", "")),
        store_id=str(data.get("store", "")),
        revision=int(data.get("revision", 0)),
        documents=tuple(resources),
    )
