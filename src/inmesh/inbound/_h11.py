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
headers are rewritten as h11 does, from the headers the ``Response`` already validated,
without validating them again (``normalize_and_validate(..., _parsed=True)`` still checks
``Content-Length`` and ``Transfer-Encoding`` as h11 does). The bytes written are the same
(tests/unit/inbound/test_h11.py compares them with h11's own for every framing case). It
relies on h11's private helpers, so it is used with h11 0.16 only (checked at import);
with another h11 the listener keeps ``h11.Connection`` as it is.

It also writes the workload's metadata exchange pair into an answer without validating it
again (:meth:`MeshH11Connection.answer_with`): the pair is the same for every answer of a
workload (~500 bytes), so it is validated once per workload (:func:`validated`), and
spliced into the answer's headers where ``MeshMiddleware`` would have put it (after the
app's headers, before the ``Connection: close`` uvicorn may append), so the bytes on the
wire are the ones h11 writes when the pair is in the app's headers (tests compare them).
"""

from __future__ import annotations

from typing import Any

import h11

__all__ = ["MeshH11Connection", "connection_class", "validated"]

#: what the splice must never carry: h11 rewrites these headers for framing
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_VALIDATED: dict[tuple[tuple[bytes, bytes], ...], list[tuple[bytes, bytes, bytes]] | None] = {}

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


def _set_comma_header(headers: Any, name: bytes, new_values: list[bytes]) -> Any:
    """h11's ``set_comma_header`` without validating again what ``headers`` holds (they
    were validated when the ``Response`` was made; the new values are h11's constants)."""
    new_headers = [
        (raw_name, value)
        for raw_name, found_name, value in headers._full_items
        if found_name != name
    ]
    title = name.title()
    for value in new_values:
        new_headers.append((title, value))
    return normalize_and_validate(new_headers, _parsed=True)


def validated(
    pair: tuple[tuple[bytes, bytes], ...],
) -> list[tuple[bytes, bytes, bytes]] | None:
    """``pair`` as h11 holds validated headers (raw name, lower-case name, value), once per
    distinct pair; None when h11 would refuse it or it names a framing header (the caller
    then sends it the ordinary way, where h11 validates and rewrites as usual)."""
    try:
        return _VALIDATED[pair]
    except KeyError:
        pass
    items: list[tuple[bytes, bytes, bytes]] | None
    try:
        items = list(normalize_and_validate(list(pair))._full_items)
    except h11.LocalProtocolError:
        items = None
    if items is not None and any(name in _FRAMING for _, name, _ in items):
        items = None
    if len(_VALIDATED) >= 64:
        _VALIDATED.clear()
    _VALIDATED[pair] = items
    return items


class MeshH11Connection(h11.Connection):
    """``h11.Connection`` whose answers' headers are validated once (see the module)."""

    #: (index, validated headers) to splice into the next answer's headers, or None
    _inmesh_answer: tuple[int, list[tuple[bytes, bytes, bytes]]] | None = None

    def answer_with(self, at: int, items: list[tuple[bytes, bytes, bytes]] | None) -> None:
        """Splice ``items`` (from :func:`validated`) into the next answer's headers at
        index ``at``; None: nothing (clears what was not sent)."""
        self._inmesh_answer = (at, items) if items is not None else None

    def _clean_up_response_headers_for_sending(self, response: Any) -> Any:
        # h11 0.16's method, with _set_comma_header for set_comma_header
        assert type(response) is h11.Response
        headers = response.headers
        splice = self._inmesh_answer
        if splice is not None:
            # the pair validated once per workload, where the app's headers end; its names
            # are no framing header (validated()), so the framing below is the same
            self._inmesh_answer = None
            at, items = splice
            full = headers._full_items
            headers = Headers([*full[:at], *items, *full[at:]])
        need_close = False
        method: Any = self._request_method
        if method == b"HEAD":
            method = b"GET"
        framing_type, _ = _body_framing(method, response)
        if framing_type in ("chunked", "http/1.0"):
            headers = _set_comma_header(headers, b"content-length", [])
            if self.their_http_version is None or self.their_http_version < b"1.1":
                headers = _set_comma_header(headers, b"transfer-encoding", [])
                if self._request_method != b"HEAD":
                    need_close = True
            else:
                headers = _set_comma_header(headers, b"transfer-encoding", [b"chunked"])
        if not self._cstate.keep_alive or need_close:
            connection = set(get_comma_header(headers, b"connection"))
            connection.discard(b"keep-alive")
            connection.add(b"close")
            headers = _set_comma_header(headers, b"connection", sorted(connection))
        assert isinstance(headers, Headers)
        return h11.Response(
            headers=headers,
            status_code=response.status_code,
            http_version=response.http_version,
            reason=response.reason,
        )


def connection_class() -> type[h11.Connection]:
    """The connection class the listener gives h11: :class:`MeshH11Connection` when this
    h11 has the helpers it relies on, else ``h11.Connection``."""
    return MeshH11Connection if _AVAILABLE else h11.Connection
