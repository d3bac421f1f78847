"""The listener's h11 connection: the same bytes as h11's, each answer's headers validated once.

uvicorn builds every answer as an ``h11.Response`` (which validates each header name and
value with h11's regexes), then h11 rewrites the framing headers before writing them: an
answer without ``Content-Length`` (a streamed or chunked body: most ASGI apps) goes
through ``set_comma_header`` twice (``content-length`` removed, ``transfer-encoding:
chunked`` set), and each call validates every header again. The answer's headers thus
pass through h11's field-value regex three times; with the ~500 bytes of a workload's
metadata exchange pair (``x-envoy-peer-metadata[-id]``, in every answer to a mesh peer),
that is ~18 us of the listener's CPU per request (``docs/performance.md``).

:class:`MeshH11Connection` is ``h11.Connection`` with one method replaced: the framing
headers are rewritten as h11 does (``_clean_up_response_headers_for_sending``: the same
headers removed, the same appended, in the same order), in one pass over the headers the
``Response`` already validated, without validating them again (what h11's second
validation would check, ``Content-Length`` and ``Transfer-Encoding``, the first one
already did, and the rewrite only removes those or sets h11's own constants). The bytes
written are the same (tests/unit/inbound/test_h11.py compares them with h11's own for
every framing case). It relies on h11's private helpers, so it is used with h11 0.16 only
(checked at import); with another h11 the listener keeps ``h11.Connection`` as it is.

It also writes the workload's metadata exchange pair into the next answer when
``MeshMiddleware`` sets :attr:`MeshH11Connection.inmesh_pair` (the listener offers the
connection in the scope, ``_protocol.py``): the pair is the same for every answer of a
workload (~500 bytes), so it is validated and rendered once per workload
(:func:`pair_item`) as the very lines h11 would write for it, and it goes where
``MeshMiddleware`` would have put it in the message (after the app's headers, before the
framing headers h11 appends), so the bytes on the wire are the ones h11 writes when the
pair is in the app's headers (tests compare them).
"""

from __future__ import annotations

from typing import Any

import h11

__all__ = ["MeshH11Connection", "connection_class", "pair_item", "validated"]

#: what the pair must never carry: h11 rewrites these headers for framing, and writes
#: ``host`` first
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection", b"host"))
_ITEMS: dict[tuple[tuple[bytes, bytes], ...], tuple[bytes, bytes, bytes] | None] = {}
_CHUNKED = (b"Transfer-Encoding", b"transfer-encoding", b"chunked")  # set_comma_header's
_NO_FRAMING = (b"content-length", b"transfer-encoding")

try:
    from h11._connection import _body_framing
    from h11._headers import Headers, get_comma_header, normalize_and_validate

    # the method replaced is h11 0.16's (uvicorn 0.54's dependency); another h11 keeps its own
    from h11._version import __version__

    _AVAILABLE = __version__.startswith("0.16.") and hasattr(
        h11.Connection, "_clean_up_response_headers_for_sending"
    )
except ImportError:  # pragma: no cover - another h11 layout: h11's own connection
    _AVAILABLE = False


def validated(
    pair: tuple[tuple[bytes, bytes], ...],
) -> list[tuple[bytes, bytes, bytes]] | None:
    """``pair`` as h11 holds validated headers (raw name, lower-case name, value); None when
    h11 would refuse it or it names a framing header or ``host`` (the caller then sends it
    the ordinary way, where h11 validates and rewrites as usual). :func:`pair_item`
    remembers the outcome per distinct pair."""
    try:
        items = list(normalize_and_validate(list(pair))._full_items)
    except h11.LocalProtocolError:
        return None
    if not items or any(name in _FRAMING for _, name, _ in items):
        return None
    return items


def pair_item(pair: tuple[tuple[bytes, bytes], ...]) -> tuple[bytes, bytes, bytes] | None:
    """``pair`` (:func:`validated`) as one header item whose line, as h11's writer makes it
    (``raw_name + b": " + value + b"\\r\\n"``), is the lines h11 writes for the whole pair:
    the first name, and as its value the rest of those lines. Made once per distinct pair;
    None when the pair cannot be written this way (see :func:`validated`). Only
    :class:`MeshH11Connection` puts it in an answer's headers, after every check h11 makes
    on them (no check reads the pair: its names are no framing header and not ``host``)."""
    try:
        return _ITEMS[pair]
    except KeyError:
        pass
    items = validated(pair)
    item: tuple[bytes, bytes, bytes] | None = None
    if items is not None:
        lines = b"".join(b"%s: %s\r\n" % (raw_name, value) for raw_name, _, value in items)
        raw_name, name, _ = items[0]
        item = (raw_name, name, lines[len(raw_name) + 2 : -2])
    if len(_ITEMS) >= 64:
        _ITEMS.clear()
    _ITEMS[pair] = item
    return item


class MeshH11Connection(h11.Connection):
    """``h11.Connection`` whose answers' headers are validated once (see the module)."""

    #: the workload's pair (:func:`pair_item`) for the next answer (``MeshMiddleware`` sets
    #: it; writing the answer clears it), or None
    inmesh_pair: tuple[bytes, bytes, bytes] | None
    #: the ASGI ``send`` of the request being served, as the listener received it (the
    #: middleware sets ``inmesh_pair`` only when its own ``send`` is that one: nothing in
    #: between can change the answer's headers after the pair)
    inmesh_send: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inmesh_pair = None
        self.inmesh_send = None

    def _clean_up_response_headers_for_sending(self, response: Any) -> Any:
        # h11 0.16's method in one pass: h11 removes Content-Length and Transfer-Encoding
        # (then appends Transfer-Encoding: chunked) for a body of unknown length, and
        # removes every Connection header (then appends its values with close) when the
        # connection closes; the pair goes after the app's headers, before what h11 appends
        assert type(response) is h11.Response
        pair = self.inmesh_pair
        if pair is not None:
            self.inmesh_pair = None
        headers = response.headers
        full = headers._full_items
        method: Any = self._request_method
        if method == b"HEAD":
            method = b"GET"
        need_close = False
        drop: tuple[bytes, ...] = ()
        tail: list[tuple[bytes, bytes, bytes]] = []
        framing_type, _ = _body_framing(method, response)
        if framing_type in ("chunked", "http/1.0"):
            drop = _NO_FRAMING
            if self.their_http_version is None or self.their_http_version < b"1.1":
                if self._request_method != b"HEAD":
                    need_close = True
            else:
                tail.append(_CHUNKED)
        if not self._cstate.keep_alive or need_close:
            connection = set(get_comma_header(headers, b"connection"))
            connection.discard(b"keep-alive")
            connection.add(b"close")
            drop = (*drop, b"connection")
            tail.extend((b"Connection", b"connection", value) for value in sorted(connection))
        if not drop and pair is None:
            return response  # h11 would make the same Response again
        if drop:
            items = []
            for item in full:  # a loop, not a comprehension (its own function in 3.11)
                if item[1] not in drop:
                    items.append(item)
        else:
            items = list(full)
        if pair is not None:
            items.append(pair)
        if tail:
            items.extend(tail)
        return h11.Response(
            headers=Headers(items),
            status_code=response.status_code,
            http_version=response.http_version,
            reason=response.reason,
            _parsed=True,
        )


def connection_class() -> type[h11.Connection]:
    """The connection class the listener gives h11: :class:`MeshH11Connection` when this
    h11 has the helpers it relies on, else ``h11.Connection``."""
    return MeshH11Connection if _AVAILABLE else h11.Connection
