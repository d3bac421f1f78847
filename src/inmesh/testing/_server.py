"""The server side of an in-memory connection: HTTP/1.1 parsed with h11, the workload's
ASGI app called as an ASGI server calls it (one ``http.request`` with the whole body, the
response streamed back as the app sends it, 500 when the app raises before answering),
with the workload's Mesh as ``inmesh.current_mesh()`` in the connection's task."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import h11

from .._current import set_context_mesh

if TYPE_CHECKING:
    from ._memory import Served

log = logging.getLogger("inmesh.testing")

#: an ASGI application
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def _next_event(conn: h11.Connection, recv: Callable[[], Awaitable[bytes]]) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await recv())
            continue
        return event


async def serve_connection(
    served: Served,
    recv: Callable[[], Awaitable[bytes]],
    send: Callable[[bytes], None],
    errors: list[BaseException],
    server: tuple[str, int],
) -> None:
    """Serve HTTP/1.1 requests on one in-memory connection until either side closes."""
    set_context_mesh(served.mesh)  # this task's context only: the app calls out as itself
    conn = h11.Connection(h11.SERVER)
    state = (await served.lifespan()).state  # started before the connection was made
    try:
        while True:
            try:
                event = await _next_event(conn, recv)
                if not isinstance(event, h11.Request):
                    return
                body = bytearray()
                while True:
                    ev = await _next_event(conn, recv)
                    if isinstance(ev, h11.Data):
                        body += ev.data
                    elif isinstance(ev, h11.EndOfMessage):
                        break
                    else:
                        return  # closed in the middle of the request
            except h11.RemoteProtocolError:
                return
            scope = _scope(event, server)
            scope["state"] = dict(state)  # a shallow copy per request (ASGI lifespan)
            await _call_app(served.app, scope, bytes(body), conn, send, errors)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    finally:
        send(b"")  # the server's side of the connection closes


def _scope(req: h11.Request, server: tuple[str, int]) -> dict[str, Any]:
    target = req.target
    path, _, query = target.partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method.decode("ascii"),
        "scheme": "http",
        "path": unquote(path.decode("latin-1")),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in req.headers],
        "client": ("127.0.0.1", 50000),
        "server": server,
        "extensions": {},
    }


async def _call_app(
    app: App,
    scope: dict[str, Any],
    body: bytes,
    conn: h11.Connection,
    write: Callable[[bytes], None],
    errors: list[BaseException],
) -> None:
    done = anyio.Event()
    state = {"received": False, "started": False}

    def send_bytes(data: bytes) -> None:
        if data:  # b"" closes the connection: not for h11's empty EndOfMessage
            write(data)

    async def receive() -> dict[str, Any]:
        if not state["received"]:
            state["received"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            state["started"] = True
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            send_bytes(conn.send(h11.Response(status_code=message["status"], headers=headers)))
        elif kind == "http.response.body":
            data = message.get("body", b"")
            if data:
                send_bytes(conn.send(h11.Data(data=data)))
            if not message.get("more_body", False):
                send_bytes(conn.send(h11.EndOfMessage()))
                done.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:  # the app's own failure: a 500, as uvicorn answers
        errors.append(exc)
        log.error("in-memory workload raised", exc_info=exc)
        if not state["started"]:
            err = b"Internal Server Error"
            send_bytes(
                conn.send(
                    h11.Response(
                        status_code=500,
                        headers=[(b"content-length", str(len(err)).encode())],
                    )
                )
            )
            send_bytes(conn.send(h11.Data(data=err)))
            send_bytes(conn.send(h11.EndOfMessage()))
    finally:
        done.set()


# -- the client side ---------------------------------------------------------------------
