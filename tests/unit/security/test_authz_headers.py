"""The header-name table of ``check_raw``: which of a request's headers the policies read."""

from __future__ import annotations

from inmesh.security._authz_headers import HeaderNames


def test_a_request_without_a_read_header_needs_no_map() -> None:
    names = HeaderNames(frozenset({b"x-debug", b"x-tenant"}))
    headers = [(b"host", b"a"), (b"user-agent", b"u"), (b"x-request-id", b"1")]
    assert names.any_read(headers) is False
    assert names.any_read([]) is False
    # every name met is remembered with its answer
    assert dict(names) == {b"host": None, b"user-agent": None, b"x-request-id": None}


def test_a_read_header_is_found_however_it_is_spelled() -> None:
    names = HeaderNames(frozenset({b"x-debug"}))
    for spelled in (b"x-debug", b"X-Debug", b"X-DEBUG"):
        assert names.any_read([(b"host", b"a"), (spelled, b"1")]) is True
        assert names.header_map([(b"host", b"a"), (spelled, b"1")]) == {"x-debug": "1"}


def test_repeated_headers_are_joined_with_commas_in_order() -> None:
    names = HeaderNames(frozenset({b"x-h"}))
    headers = [(b"x-h", b"a"), (b"other", b"z"), (b"X-H", b"b"), (b"x-h", b"\xe9")]
    assert names.header_map(headers) == {"x-h": "a,b,\xe9"}


def test_without_a_list_of_names_every_header_is_read() -> None:
    names = HeaderNames(None)
    assert names.any_read([]) is True
    assert names.header_map([(b"Host", b"a"), (b"x", b"1")]) == {"host": "a", "x": "1"}


def test_an_empty_name_read_by_a_condition_is_never_skipped() -> None:
    # any_read tests the map's names for truth: the empty name takes the loop every time
    names = HeaderNames(frozenset({b""}))
    assert names.any_read([(b"host", b"a")]) is True
    assert names.header_map([(b"", b"v"), (b"host", b"a")]) == {"": "v"}


def test_the_table_is_bounded() -> None:
    names = HeaderNames(frozenset({b"x-debug"}))
    for n in range(3000):
        assert names.any_read([(b"x-invented-%d" % n, b"1")]) is False
    assert len(names) <= 1024
    assert names.any_read([(b"X-Debug", b"1")]) is True


def test_a_long_name_is_classified_each_time_and_not_kept() -> None:
    names = HeaderNames(frozenset({b"x-" + b"a" * 200}))
    long_read, long_other = b"X-" + b"A" * 200, b"x-" + b"b" * 200
    for _ in range(2):
        assert names.any_read([(long_other, b"1")]) is False
        assert names.any_read([(long_read, b"1")]) is True
        assert names.header_map([(long_read, b"1")]) == {"x-" + "a" * 200: "1"}
    assert len(names) == 0
