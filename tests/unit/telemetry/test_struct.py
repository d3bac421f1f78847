"""google.protobuf.Struct's wire format, written and read by hand."""

from __future__ import annotations

import struct

import pytest

from inmesh.telemetry._struct import decode_struct, encode_struct


def test_a_string_field_has_protobufs_bytes() -> None:
    # fields { key: "A" value { string_value: "b" } }: tag 1 (LEN) of an entry whose key is
    # tag 1 (LEN) "A" and whose value is tag 2 (LEN) a Value with tag 3 (LEN) "b"
    assert encode_struct({"A": "b"}) == bytes(
        [0x0A, 0x08, 0x0A, 0x01, 0x41, 0x12, 0x03, 0x1A, 0x01, 0x62]
    )


def test_nested_structs_round_trip_with_keys_sorted() -> None:
    value = {"NAME": "reviews-v2", "LABELS": {"version": "v2", "app": "reviews"}, "Z": ""}
    encoded = encode_struct(value)
    assert decode_struct(encoded) == value
    assert encoded.index(b"LABELS") < encoded.index(b"NAME") < encoded.index(b"Z")


def test_long_values_use_multi_byte_lengths() -> None:
    value = {"OWNER": "x" * 300}
    assert decode_struct(encode_struct(value)) == value


def test_every_value_kind_is_read() -> None:
    def entry(key: bytes, value: bytes) -> bytes:
        body = bytes([0x0A, len(key)]) + key + bytes([0x12, len(value)]) + value
        return bytes([0x0A, len(body)]) + body

    number = bytes([0x11]) + struct.pack("<d", 2.5)
    flag = bytes([0x20, 0x01])
    null = bytes([0x08, 0x00])
    items = bytes([0x0A, 0x03, 0x1A, 0x01, 0x61])  # ListValue { values: "a" }
    listed = bytes([0x32, len(items)]) + items
    data = entry(b"n", number) + entry(b"f", flag) + entry(b"z", null) + entry(b"l", listed)
    assert decode_struct(data) == {"n": 2.5, "f": True, "z": None, "l": ["a"]}


def test_unknown_fields_are_skipped() -> None:
    # field 7 as a varint, then field 9 as a 32-bit value, then a real entry
    data = bytes([0x38, 0x05, 0x4D, 1, 2, 3, 4]) + encode_struct({"A": "b"})
    assert decode_struct(data) == {"A": "b"}


@pytest.mark.parametrize(
    "data",
    [
        bytes([0x0A, 0x09, 0x0A]),  # a length past the end
        bytes([0x0A, 0x80]),  # a truncated varint
        bytes([0x0B]),  # wire type 3 (groups): not in a Struct
        bytes([0x09, 0x01]),  # a 64-bit field cut short
    ],
)
def test_malformed_input_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_struct(data)
