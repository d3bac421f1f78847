"""The request's headers as httpcore's HTTP/1.1 writer (h11) gets them.

h11 checks every header of every request against its header-name and header-value
patterns (``normalize_and_validate``: ~11,000 instructions a header on CPython 3.11, ~110
more a byte of its value), so a request's headers cost more than the mesh's own work: a
sync request through raw httpx spends ~65k of its ~1,640k instructions there, and every
header the mesh adds (the metadata exchange pair, ~480 bytes; the trace headers)
adds its share. h11's ``Request`` takes a ``Headers`` list it normalised before as it is,
so the mesh hands it one: each header as ``normalize_and_validate`` made it, remembered
per distinct ``(name, value)`` (the same application headers come on every request, and
the function's result for the same bytes is the same; at most 1,024, none longer than 512
bytes, none whose name contains a part that often names a credential; a header whose name
and value are ASCII letters, digits and dashes only, such as a propagated
``x-request-id``, is within h11's patterns by construction and normalised without them);
the headers
the mesh formatted itself from checked parts
(:class:`~inmesh.telemetry._propagation.MeshHeader`: trace ids, new on every request) as
they are. The bytes on the wire are the same. ``Content-Length`` and ``Transfer-Encoding``
(a request with a body), which h11 checks across headers, are checked by h11 on every
request and never remembered; one of them alone is checked as h11 checks it in the list
(its rules across headers concern two or more). A request with a header that fails the
check, or with more than one of those two, is handed over as the plain list: h11 does
all of it as it always did, and raises where it always did (``httpx.LocalProtocolError``).
An HTTP/2 connection (httpcore's h2 path) gets the headers normalised the same way: a
``Content-Length: 5, 5`` goes out as h11 would write it, ``5``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from h11 import LocalProtocolError

from ..telemetry._propagation import MeshHeader

__all__ = ["WireHeaders", "wire_headers"]

try:  # h11's normalised header list: what h11.Request takes as it is
    from h11 import _events
    from h11._headers import Headers as _H11Headers
    from h11._headers import normalize_and_validate
    from h11._version import __version__ as _h11_version

    # h11 0.16's Request keeps a Headers as it is (``isinstance(headers, Headers)``), as
    # the listener's connection relies on (inbound/_h11.py); another h11: h11 does it all
    _ENABLED = _h11_version.startswith("0.16.") and (
        getattr(_events, "Headers", None) is _H11Headers
    )
except ImportError:  # pragma: no cover - another h11: every header checked by h11, as before
    _H11Headers = object  # type: ignore[assignment,misc]
    _ENABLED = False

Header = tuple[bytes, bytes]


class WireHeaders(_H11Headers):
    """h11's normalised headers, iterated as h11 iterates them (lower-case names) without
    h11's ``Sequence.__iter__`` (one Python call a header)."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Header]:
        for _, name, value in self._full_items:
            yield name, value


#: h11 checks these across headers (conflicting or repeated lengths, one transfer coding):
#: one of them alone is checked alone, more go the plain way
_SPECIAL = (b"content-length", b"transfer-encoding")
#: each (name, value) h11's check passed on, as h11 normalised it: the same application
#: headers (httpx's Host, Accept, User-Agent...) come on every request; cleared when full
_CHECKED: dict[Header, tuple[bytes, bytes, bytes]] = {}
_CHECKED_LIMIT = 1024
#: not remembered: long values (bounded memory) and what may be a credential (kept no
#: longer than the request that carries them): a name containing one of these parts
#: (authorization, cookie, x-api-key, x-auth-token, x-session-id...). A rule of thumb, not
#: a guarantee: a credential under another name is remembered like any header (the bytes
#: sent are the same either way)
_LONGEST = 512
_SECRET_PARTS = (b"auth", b"cookie", b"key", b"token", b"secret", b"session", b"passw", b"sign")


def _may_be_secret(lower: bytes) -> bool:
    return any(part in lower for part in _SECRET_PARTS)


def wire_headers(headers: list[Header]) -> Sequence[Header]:
    """``headers`` as httpcore gives them to h11: h11's normalised list, each header as
    h11's ``normalize_and_validate`` made it (once per distinct header: the result for
    the same bytes is the same; one of ASCII letters, digits and dashes only, within h11's
    patterns by construction, without them), the mesh's own (:class:`MeshHeader`) as they
    are.
    ``headers`` unchanged, for h11 to check as it always did, when one fails the check or
    more than one is a ``Content-Length`` or ``Transfer-Encoding`` (h11 checks those
    across headers; one alone, h11 checks here on every request)."""
    if not _ENABLED:
        return headers
    checked = _CHECKED
    items: list[tuple[bytes, bytes, bytes]] = []
    framing = False  # a Content-Length or Transfer-Encoding seen
    try:
        for h in headers:
            if type(h) is MeshHeader:
                items.append((h[0], h[0], h[1]))  # its name is lower-case already
                continue
            item = checked.get(h)
            if item is None:
                name, value = h
                if (
                    type(name) is bytes
                    and type(value) is bytes
                    and name.replace(b"-", b"").isalnum()
                    and value.replace(b"-", b"").isalnum()
                ):
                    # ASCII letters, digits and dashes only (an x-request-id's UUID): within
                    # h11's patterns by construction, normalised without them
                    item = (name, name.lower(), value)
                    if item[1] in _SPECIAL:  # its value has rules of its own: h11's check
                        item = normalize_and_validate([h])._full_items[0]
                else:
                    item = normalize_and_validate([h])._full_items[0]
                lower = item[1]
                if lower in _SPECIAL:
                    if framing:  # a second one: h11's rules across headers, its own way
                        return headers
                    framing = True
                    # checked as h11 checks it, never remembered: a length changes with
                    # every body
                    items.append(item)
                    continue
                # remembered (a value new on every request, such as a request id, only
                # refills the table: cleared when full, ~1 miss a header per 1,024 requests)
                if len(item[2]) <= _LONGEST and not _may_be_secret(lower):
                    if len(checked) >= _CHECKED_LIMIT:
                        checked.clear()
                    checked[h] = item
            items.append(item)
    except (LocalProtocolError, TypeError, ValueError):
        return headers  # h11 raises it when httpcore sends the request, as it always did
    return WireHeaders(items)
