"""``google.protobuf.Struct`` in its binary wire format, by hand: what Istio's metadata
exchange header carries (base64 of a serialized Struct), small enough not to need protobuf.

Struct is ``map<string, Value> fields = 1``; a Value is one of ``null_value = 1``,
``number_value = 2`` (double), ``string_value = 3``, ``bool_value = 4``, ``struct_value = 5``,
``list_value = 6`` (``ListValue``: ``repeated Value values = 1``). Encoding writes strings
and nested structs (map keys sorted, as protobuf's deterministic mode does); decoding reads
every Value kind and skips fields it does not know, as a protobuf parser does.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

__all__ = ["decode_struct", "encode_struct"]

_DOUBLE = struct.Struct("<d")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value(value: str | Mapping[str, Any]) -> bytes:
    if isinstance(value, str):
        return _field(3, value.encode("utf-8"))
    return _field(5, encode_struct(value))


def encode_struct(fields: Mapping[str, Any]) -> bytes:
    """Serialize ``fields`` (values: strings or nested mappings of the same) as a Struct."""
    out = bytearray()
    for key in sorted(fields):
        entry = _field(1, key.encode("utf-8")) + _field(2, _value(fields[key]))
        out += _field(1, entry)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of one message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    end = len(data)
    while pos < end:
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        value: Any
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise ValueError("truncated 64-bit field")
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > end:
                raise ValueError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            if pos + 4 > end:
                raise ValueError("truncated 32-bit field")
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _decode_value(data: bytes) -> Any:
    value: Any = None
    for number, wire, raw in _fields(data):
        if number == 3 and wire == 2:
            value = raw.decode("utf-8")
        elif number == 5 and wire == 2:
            value = decode_struct(raw)
        elif number == 2 and wire == 1:
            value = _DOUBLE.unpack(raw)[0]
        elif number == 4 and wire == 0:
            value = bool(raw)
        elif number == 6 and wire == 2:
            value = [_decode_value(v) for n, w, v in _fields(raw) if n == 1 and w == 2]
        elif number == 1 and wire == 0:
            value = None
    return value


def decode_struct(data: bytes) -> dict[str, Any]:
    """A serialized Struct as a dict (strings, floats, bools, None, lists, dicts); a
    malformed one raises ``ValueError``."""
    out: dict[str, Any] = {}
    for number, wire, entry in _fields(data):
        if number != 1 or wire != 2:
            continue
        key = ""
        value: Any = None
        for n, w, raw in _fields(entry):
            if n == 1 and w == 2:
                key = raw.decode("utf-8")
            elif n == 2 and w == 2:
                value = _decode_value(raw)
        out[key] = value
    return out
