"""The header names :meth:`WorkloadAuthorizer.check_raw` reads, as a server spells them.

A request's header map holds only the headers the policies' conditions read
(``request.headers[...]``), by lower-case name; most requests carry none of them. The
table maps each name as spelled on the wire to the map's name (or None: no condition reads
it), classifying a name the first time it is seen, so that the common case, "none of
these headers is read", is decided by one pass in C over the request's names
(:meth:`HeaderNames.any_read`) before any Python loop runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter

__all__ = ["HeaderNames"]

_NAME = itemgetter(0)
#: a client inventing names only refills the table
_MAX_NAMES = 1024
#: longer names are classified every time they come: the table stays small
_MAX_KEPT_NAME = 128


class HeaderNames(dict[bytes, "str | None"]):
    """raw name as spelled -> the header map's name (lower-case, latin-1), or None when no
    condition reads it; ``wanted`` None: every header is read."""

    def __init__(self, wanted: frozenset[bytes] | None) -> None:
        super().__init__()
        self._wanted = wanted
        # any_read relies on the map's names being true; a condition on the empty name
        # (which no client can send) takes the loop every time instead
        self._always = wanted is None or b"" in wanted

    def __missing__(self, raw_name: bytes) -> str | None:
        lowered = raw_name.lower()
        wanted = self._wanted
        name = lowered.decode("latin-1") if wanted is None or lowered in wanted else None
        if len(raw_name) <= _MAX_KEPT_NAME:
            if len(self) >= _MAX_NAMES:
                self.clear()
            self[raw_name] = name
        return name

    def any_read(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """Whether a condition reads one of ``headers`` (False: the map is empty)."""
        return self._always or any(map(self.__getitem__, map(_NAME, headers)))

    def header_map(self, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        """The headers the conditions read, by lower-case name; repeated headers joined
        with ``,`` as Envoy does (and as ``AuthzRequest.header_map`` does)."""
        hd: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = self[raw_name]
            if name is None:
                continue
            value = raw_value.decode("latin-1")
            hd[name] = f"{hd[name]},{value}" if name in hd else value
        return hd
