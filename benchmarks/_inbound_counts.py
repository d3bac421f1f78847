"""What ``inbound.py --counts`` reads inside each server: figures that do not depend on the
machine's load (Python calls, garbage collections, syscalls, bytes per request).

The server (``INMESH_BENCH_COUNTS=1``) answers two commands on its stdin, one JSON line each
on its stdout: ``mark`` (start counting: ``gc.get_stats()`` and a cProfile that only counts)
and ``report`` (the deltas since ``mark``: collections and objects collected per
generation, Python calls by function). The client runs ``strace -c -f`` on the server
between the two when ``strace`` is installed, and counts the bytes it sends and receives.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
from typing import Any


class Counts:
    """The server side: one instance per server process, driven by its stdin."""

    def __init__(self) -> None:
        self._gc: list[dict[str, int]] = []
        self._profile: cProfile.Profile | None = None

    def command(self, line: str) -> dict[str, Any]:
        if line == "mark":
            gc.collect()
            self._gc = gc.get_stats()
            self._profile = cProfile.Profile()
            self._profile.enable()  # the loop's thread: this runs on it
            return {"ok": True}
        if line == "report" and self._profile is not None:
            self._profile.disable()
            after = gc.get_stats()
            stats = pstats.Stats(self._profile).stats  # type: ignore[attr-defined]
            calls = {
                f"{path.rsplit('/', 1)[-1]}:{line_no}({name})": entry[1]
                for (path, line_no, name), entry in stats.items()
            }
            pairs = list(zip(after, self._gc, strict=True))
            return {
                "collections": [a["collections"] - b["collections"] for a, b in pairs],
                "collected": [a["collected"] - b["collected"] for a, b in pairs],
                "objects": len(gc.get_objects()),
                "calls": calls,
            }
        return {"error": f"unknown command {line!r}"}
