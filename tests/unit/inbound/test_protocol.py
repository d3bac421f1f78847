"""The mesh listener's protocol object as uvicorn makes it: its h11 connection and the
layout of its attributes (what keeps CPython's attribute accesses on the fast path)."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

import h11
import pytest
import uvicorn
from uvicorn.server import ServerState

from inmesh.inbound import MeshProtocol
from inmesh.inbound._h11 import MeshH11Connection, connection_class

#: CPython (3.11+) shares one key table per class for at most 30 instance attributes
#: (SHARED_KEYS_MAX_SIZE); past that every instance's dict is materialized.
SHARED_KEYS_MAX = 30


async def app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def protocol(**config: Any) -> MeshProtocol:
    loop = asyncio.new_event_loop()
    try:
        return MeshProtocol(
            config=uvicorn.Config(app, **config),
            server_state=ServerState(),
            app_state={},
            _loop=loop,
        )
    finally:
        loop.close()


def test_the_connection_is_made_with_uvicorn_settings() -> None:
    made = protocol(h11_max_incomplete_event_size=12345)
    assert connection_class() is MeshH11Connection  # h11 0.16, as installed here
    assert type(made.conn) is MeshH11Connection
    assert made.conn.our_role is h11.SERVER
    assert made.conn._max_incomplete_event_size == 12345
    assert made.conn.our_state is h11.IDLE and made.conn.their_state is h11.IDLE


def materialized(obj: object) -> bool:
    """Whether ``obj``'s attributes live in a dict of their own (CPython: the garbage
    collector then sees that dict; with the class's shared keys it sees the values)."""
    return any(type(r) is dict and "_cstate" in r for r in gc.get_referents(obj))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="shared-key instance values: 3.11+")
def test_the_connection_keeps_its_attributes_in_the_shared_keys() -> None:
    made = protocol()
    assert not materialized(made.conn)
    if sys.version_info < (3, 13):
        # what assigning __class__ did on 3.11 and 3.12 (the probe sees the difference)
        other = h11.Connection(h11.SERVER)
        other.__class__ = MeshH11Connection
        assert materialized(other)


def test_the_default_incomplete_event_size_is_uvicorns() -> None:
    from uvicorn.protocols.http.h11_impl import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE

    made = protocol()
    assert made.conn._max_incomplete_event_size == DEFAULT_MAX_INCOMPLETE_EVENT_SIZE


def test_the_listeners_own_state_stays_out_of_the_instance_dict() -> None:
    made = protocol()
    own = set(MeshProtocol.__slots__)
    assert own.isdisjoint(vars(made))
    assert made._ready is False and made._pending == [] and made._raw is None
    # uvicorn's attributes, and the data_received that _begin sets, fit the shared keys
    assert len(vars(made)) + 1 <= SHARED_KEYS_MAX
    assert "data_received" not in vars(made)


def test_a_bound_subclass_keeps_the_layout() -> None:
    from inmesh.inbound import protocol_class

    bound = protocol_class(tls=None, policy=None)
    loop = asyncio.new_event_loop()
    try:
        made = bound(
            config=uvicorn.Config(app), server_state=ServerState(), app_state={}, _loop=loop
        )
    finally:
        loop.close()
    assert type(made.conn) is MeshH11Connection
    assert set(MeshProtocol.__slots__).isdisjoint(vars(made))
