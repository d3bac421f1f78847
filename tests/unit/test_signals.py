"""SignalDrain: the first SIGTERM/SIGINT drains before the server's own handler hears it;
a second one cuts the drain short and reaches the handler at once."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from inmesh._signals import SignalDrain, _chainable


@pytest.fixture
def server_handler() -> Iterator[list[str]]:
    """A stand-in for uvicorn's ``Server.handle_exit`` on SIGTERM and SIGINT."""
    heard: list[str] = []

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        heard.append(f"server heard {signal.Signals(sig).name}")

    previous = {s: signal.signal(s, handle_exit) for s in (signal.SIGTERM, signal.SIGINT)}
    yield heard
    for s, handler in previous.items():
        signal.signal(s, handler)


async def _until(predicate: object) -> None:
    for _ in range(500):  # bounded: 5 s at most
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_the_drain_runs_before_the_server_hears_the_signal(server_handler: list[str]) -> None:
    events = server_handler

    async def drain() -> None:
        events.append("drain started")
        await asyncio.sleep(0.05)
        events.append("drain done")

    async def main() -> None:
        drainer = SignalDrain(drain, hurry=lambda: events.append("hurried"))
        assert drainer.install()
        signal.raise_signal(signal.SIGTERM)
        await _until(lambda: "server heard SIGTERM" in events)
        await drainer.wait()
        drainer.uninstall()

    asyncio.run(main())
    assert events == ["drain started", "drain done", "server heard SIGTERM"]
    assert signal.getsignal(signal.SIGTERM).__name__ == "handle_exit"  # type: ignore[union-attr]


def test_a_second_signal_hurries_the_drain_and_reaches_the_server(
    server_handler: list[str],
) -> None:
    events = server_handler
    hurry = asyncio.Event()

    async def drain() -> None:
        events.append("drain started")
        await hurry.wait()
        events.append("drain cut short")

    def hurried() -> None:
        events.append("hurried")
        hurry.set()

    async def main() -> None:
        drainer = SignalDrain(drain, hurry=hurried)
        assert drainer.install()
        signal.raise_signal(signal.SIGTERM)
        await _until(lambda: "drain started" in events)
        signal.raise_signal(signal.SIGINT)
        await drainer.wait()
        drainer.uninstall()

    asyncio.run(main())
    # the first signal is not handed on a second time: the server already stops
    assert events == ["drain started", "hurried", "server heard SIGINT", "drain cut short"]


def test_nothing_is_installed_without_a_server_handler_or_off_the_main_thread() -> None:
    async def drain() -> None:
        raise AssertionError("never called")

    async def main() -> bool:
        return SignalDrain(drain, hurry=lambda: None).install()

    # (asyncio.run puts its own SIGINT handler in place of Python's default one; a
    # drain in front of it is right: drain, then interrupt)
    assert not _chainable(signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert asyncio.run(main()) is False
        signal.signal(signal.SIGTERM, lambda s, f: None)
        result: list[bool] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(main())))
        thread.start()
        thread.join(10)
        assert result == [False]
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
