"""What the access log and Telemetry metric overrides cost per record.

    .venv/bin/python benchmarks/access_log.py [--number 100000] [--rounds 5]

Pure CPU, no I/O (timeit), the record of ``benchmarks/metrics.py`` with request headers
(host, user-agent, x-request-id) as the outbound transport gives them (``httpx.Headers``):

- **format TEXT** / **format JSON**: building Istio's line alone;
- **AccessLogHook TEXT** / **JSON**: the hook as a Mesh runs it, the ``inmesh.access``
  logger at INFO with one handler writing to an in-memory stream (the formatting and
  Python logging's record, lock and handler: what a real handler adds beyond is I/O);
- **AccessLogHook, filtered out**: a Telemetry ``filter.expression`` (``response.code >=
  400``) that the record does not pass;
- **MetricsHook, standard** against **MetricsHook, with tagOverrides**: the cached fast
  path, and the path of a workload whose Telemetry policy removes one label and adds one
  from ``request.host``.

Figures are the median over rounds of microseconds per record.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import timeit
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from metrics import sample

from inmesh.telemetry import MetricsHook, RequestRecord
from inmesh.telemetry._access_log import AccessLogHook, format_json, format_text
from inmesh.telemetry._cel import compile_filter, compile_tag_value
from inmesh.telemetry._policy import (
    AccessLogRule,
    MetricOverride,
    ModeMetrics,
    TagRule,
    TelemetryPolicy,
)


def record(**changes: object) -> RequestRecord:
    headers = httpx.Headers(
        {
            "host": "reviews:9080",
            "user-agent": "python-httpx/0.28.1",
            "x-request-id": "84961386-6d84-929d-98bd-c5aee93b5c88",
        }
    )
    return replace(
        sample(),
        request_headers=headers,
        protocol="HTTP/1.1",
        start_time=1764488743.937,
        upstream_local_address="127.0.0.1:46392",
        downstream_local_address="reviews:9080",
        **changes,  # type: ignore[arg-type]
    )


def logging_to_memory() -> None:
    logger = logging.getLogger("inmesh.access")
    logger.handlers[:] = [logging.StreamHandler(io.StringIO())]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def hook_case(encoding: str, policy: TelemetryPolicy | None = None) -> Callable[[], None]:
    hook = AccessLogHook(encoding=encoding)  # type: ignore[arg-type]
    rec = record(telemetry=policy)
    return lambda: hook(rec)


def filtered() -> Callable[[], None]:
    expression = "response.code >= 400"
    policy = TelemetryPolicy(
        client_log=AccessLogRule(False, expression, compile_filter(expression))
    )
    return hook_case("text", policy)


def metrics(overridden: bool) -> Callable[[], None]:
    policy = None
    if overridden:
        tags = (
            TagRule("request_host", False, "request.host", compile_tag_value("request.host")),
            TagRule("response_flags", True),
        )
        policy = TelemetryPolicy(
            client_metrics=ModeMetrics(overrides={"REQUEST_COUNT": MetricOverride(tags=tags)})
        )
    hook, rec = MetricsHook(), record(telemetry=policy)
    return lambda: hook(rec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging_to_memory()
    rec = record()
    cases: dict[str, Callable[[], Callable[[], None]]] = {
        "format TEXT": lambda: lambda: format_text(rec) and None,
        "format JSON": lambda: lambda: format_json(rec) and None,
        "AccessLogHook TEXT": lambda: hook_case("text"),
        "AccessLogHook JSON": lambda: hook_case("json"),
        "AccessLogHook, filtered out": filtered,
        "MetricsHook, standard": lambda: metrics(False),
        "MetricsHook, with tagOverrides": lambda: metrics(True),
    }
    print(f"{'per record':34} {'us (median)':>12}")
    for name, make in cases.items():
        fn = make()
        fn()
        runs = [
            timeit.timeit(fn, number=args.number) / args.number * 1e6 for _ in range(args.rounds)
        ]
        print(f"{name:34} {statistics.median(runs):12.2f}")


if __name__ == "__main__":
    main()
