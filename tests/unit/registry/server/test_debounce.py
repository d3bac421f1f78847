"""The push debounce as a pure state machine (Istio's PILOT_DEBOUNCE_AFTER / _MAX)."""

from __future__ import annotations

from inmesh.registry.server import Debouncer


def test_idle_has_no_deadline() -> None:
    d = Debouncer(after=0.1, max_delay=1.0)
    assert d.deadline() is None and not d.due(100.0)


def test_a_single_change_is_pushed_after_the_quiet_period() -> None:
    d = Debouncer(after=0.1, max_delay=1.0)
    d.change(10.0)
    assert not d.due(10.05)
    assert d.due(10.1)


def test_each_change_in_a_burst_extends_the_quiet_period() -> None:
    d = Debouncer(after=0.1, max_delay=1.0)
    for t in (10.0, 10.05, 10.12, 10.2):
        d.change(t)
    assert d.deadline() == 10.2 + 0.1
    assert not d.due(10.25)


def test_a_steady_stream_is_still_pushed_by_the_max_delay() -> None:
    d = Debouncer(after=0.1, max_delay=1.0)
    t = 10.0
    while t < 11.5:
        d.change(t)
        if d.due(t):
            break
        t += 0.05
    assert abs(t - 11.0) < 1e-6


def test_reset_ends_the_burst() -> None:
    d = Debouncer()
    d.change(1.0)
    d.reset()
    assert d.deadline() is None
