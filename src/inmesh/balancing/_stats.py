"""Per-endpoint counters that outlive configuration snapshots."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ActiveRequests:
    """Requests in flight per endpoint key (``address:port``), shared by all balancers.

    LEAST_REQUEST reads it; the endpoint tier increments on send and decrements when the
    response is closed. Kept in one dict owned by the Mesh so that a new snapshot does not
    reset what is in flight. Updates take a lock: a read-modify-write lost between threads
    (sync clients are shared by threads) would leave a count wrong for good; reads do not.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> int:
        return self._counts.get(key, 0)

    def reader(self) -> Callable[[str, int], int]:
        """The live counts' bound ``dict.get``: call as ``reader(key, 0)``.

        For hot loops (LEAST_REQUEST reads two counts per pick): it skips one Python-level
        call per read. Stays valid for the object's life, since the dict is never replaced.
        """
        return self._counts.get

    def inc(self, key: str) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def dec(self, key: str) -> None:
        with self._lock:
            n = self._counts.get(key, 0) - 1
            if n > 0:
                self._counts[key] = n
            else:
                self._counts.pop(key, None)
