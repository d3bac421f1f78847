"""The step driver both shells run: the whole retry loop, written once, with no I/O.

``steps(call)`` is a generator that yields what the shell must do and receives the result:

- a ``float``: sleep that many seconds (the fault's delay, a retry's back-off);
- an :class:`~._endpoint.Exchange`: send it; the shell sends back the
  ``httpcore.Response`` or the exception the attempt raised;
- an ``httpcore.Response``: close it (an attempt that will be retried or timed out).

It returns the final answer: an ``httpx.Response`` of the mesh's own, or the upstream's
``httpcore.Response`` for the shell to wrap in its streaming body. Errors that are the
application's own (its timeouts, its pool) are raised from it as httpx's.
"""

from __future__ import annotations

from collections.abc import Generator

import httpcore
import httpx

from ..resilience import LocalFailure, Step
from ._call import Call
from ._endpoint import Exchange

Command = float | Exchange | httpcore.Response
Result = httpcore.Response | BaseException | None
Final = httpx.Response | httpcore.Response


def steps(call: Call) -> Generator[Command, Result, Final]:
    """Drive ``call`` to its final answer (see the module docstring)."""
    if call.delay:  # the fault's delay, before the router
        wait, app_timeout = call.fault_wait()
        yield wait
        if app_timeout:
            raise httpx.ReadTimeout("timed out (injected delay)")
    while True:
        ex = call.next_attempt()
        if not isinstance(ex, Exchange):
            return ex  # the mesh's answer
        result = yield ex
        if isinstance(result, httpcore.Response):
            step = call.on_response(result.status, result.headers)
            if step is Step.DONE:
                return result
            yield result  # retried or timed out: close it first
            failure = LocalFailure.TIMEOUT
        else:
            assert result is not None
            failure, step = call.on_error(ex, result)
        if step is Step.RETRY:
            yield call.delay
            continue
        if step is Step.TIMEOUT:
            yield call.delay
            return call.failure_response(LocalFailure.TIMEOUT)
        return call.failure_response(failure)
