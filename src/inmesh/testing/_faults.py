"""Faults: what to do to a connection or a request, where, and how often (pure, no I/O).

A :class:`Fault` is one rule: an outcome (or a sequence of outcomes) for the connections
and requests that reach the endpoints it targets (a service, a subset, one endpoint, a
method or path prefix), for ``percentage`` of them and at most the ``first`` N. The wire
(:mod:`._wire`) asks :class:`FaultPlan` at each connect (``connect_outcome``) and at each
request head (``request_outcome``) and acts it out as the network would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from .._entropy import RNG
from ._outcomes import Abort, Outcome, outcome_of
from ._rules import EndpointInfo, Fault, RouteFault, Target

SubsetResolver = Callable[[str, str], Mapping[str, str]]
#: what pushes route faults to the workloads (a Sandbox's)
RoutePusher = Callable[[Sequence[RouteFault]], None]


class FaultPlan:
    """The faults in force, asked by the wire at every connect and request head.

    Methods add one fault each and return it; a fault lasts until removed (the pytest
    fixture removes every one at the end of the test), or use it as a ``with`` block.
    Scope: ``service`` (short name, FQDN, or an external host), ``subset`` (a
    DestinationRule subset of that service), ``labels``, ``endpoint`` (``address:port`` or
    the instance name, ``reviews-v1-0``), ``method`` and ``path`` (a prefix). How often:
    ``percentage`` (0-100, drawn from the mesh's seeded source in deterministic mode),
    ``first`` (only the first N), or :meth:`sequence` (one outcome per matching request).
    """

    def __init__(self, subset_labels: SubsetResolver | None = None) -> None:
        self._faults: list[Fault] = []
        self._routes: list[RouteFault] = []
        #: pushes route faults as VirtualService changes (set by the Sandbox)
        self.push_routes: RoutePusher | None = None
        self._lock = threading.Lock()
        #: how ``subset=`` becomes labels (a Sandbox reads its DestinationRules)
        self.subset_labels = subset_labels

    # -- adding -----------------------------------------------------------------------------

    def _add(
        self,
        service: str | None,
        outcomes: Sequence[Outcome | None],
        *,
        subset: str | None = None,
        labels: Mapping[str, str] | None = None,
        endpoint: str | None = None,
        method: str | None = None,
        path: str | None = None,
        percentage: float = 100.0,
        first: int | None = None,
        sequence: bool = False,
        describe: str,
    ) -> Fault:
        selected = dict(labels or {})
        if subset is not None:
            if service is None:
                raise ValueError(f"subset={subset!r} needs the service it belongs to")
            if self.subset_labels is None:
                raise ValueError("subset= needs the mesh's DestinationRules (use a Sandbox)")
            selected.update(self.subset_labels(service, subset))
        target = Target(
            service=service,
            labels=selected or None,
            endpoint=endpoint,
            method=method,
            path=path,
        )
        where = ", ".join(
            f"{k}={v!r}"
            for k, v in (
                ("service", service),
                ("subset", subset),
                ("labels", labels),
                ("endpoint", endpoint),
                ("method", method),
                ("path", path),
            )
            if v
        )
        fault = Fault(
            self,
            target,
            outcomes,
            percentage=percentage,
            first=first,
            sequence=sequence,
            describe=f"{describe} ({where or 'everywhere'})",
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def _route_fault(
        self, route: str, fault: dict[str, Any], scope: dict[str, Any], describe: str
    ) -> RouteFault:
        percentage = scope.pop("percentage", 100.0)
        if scope:
            raise ValueError(
                f"route={route!r} uses Istio's VirtualService fault: only percentage= "
                f"applies, not {', '.join(sorted(scope))}"
            )
        if self.push_routes is None:
            raise ValueError("route= needs the mesh's VirtualServices (use a Sandbox)")
        fault = {k: {**v, "percentage": {"value": percentage}} for k, v in fault.items()}
        rf = RouteFault(self, route, fault, f"{describe} on route {route!r}")
        with self._lock:
            self._routes.append(rf)
            routes = list(self._routes)
        try:
            self.push_routes(routes)
        except BaseException:
            self.discard_route(rf)
            raise
        return rf

    def discard_route(self, rf: RouteFault) -> None:
        with self._lock:
            if rf not in self._routes:
                return
            self._routes.remove(rf)
            routes = list(self._routes)
        if self.push_routes is not None:
            self.push_routes(routes)

    @overload
    def abort(
        self,
        service: None = None,
        *,
        status: int = 503,
        body: str = "",
        route: str,
        percentage: float = 100.0,
    ) -> RouteFault: ...
    @overload
    def abort(
        self, service: str | None = None, *, status: int = 503, body: str = "", **scope: Any
    ) -> Fault: ...
    def abort(
        self,
        service: str | None = None,
        *,
        status: int = 503,
        body: str = "",
        route: str | None = None,
        **scope: Any,
    ) -> Fault | RouteFault:
        """The upstream answers ``status`` (a real response: retryOn ``5xx`` and outlier
        detection see it as any other). With ``route`` (a VirtualService ``http[].name``),
        Istio's fault filter answers instead, before routing (flag ``FI``, never
        retried), for ``percentage`` of the route's requests."""
        if route is not None:
            return self._route_fault(route, {"abort": {"httpStatus": status}}, scope, "abort")
        return self._add(service, [Abort(status, body)], describe=f"abort {status}", **scope)

    def grpc_status(
        self, service: str | None = None, *, code: int = 14, message: str = "", **scope: Any
    ) -> Fault:
        """The upstream answers a trailers-only gRPC response with ``grpc-status: code``
        (14 UNAVAILABLE by default; retryOn ``unavailable`` ... read it)."""
        from ._outcomes import GrpcStatus

        return self._add(
            service, [GrpcStatus(code, message)], describe=f"grpc-status {code}", **scope
        )

    @overload
    def delay(
        self, service: None = None, *, seconds: float, route: str, percentage: float = 100.0
    ) -> RouteFault: ...
    @overload
    def delay(self, service: str | None = None, *, seconds: float, **scope: Any) -> Fault: ...
    def delay(
        self,
        service: str | None = None,
        *,
        seconds: float,
        route: str | None = None,
        **scope: Any,
    ) -> Fault | RouteFault:
        """The upstream takes ``seconds`` before its response headers: it really waits, and
        the caller's and the route's timeouts really fire during the wait. With ``route``,
        Istio's fault filter delays the route's requests before routing (flag ``DI``)."""
        from ._outcomes import Delay

        if route is not None:
            spec = {"delay": {"fixedDelay": f"{seconds}s"}}
            return self._route_fault(route, spec, scope, f"delay {seconds}s")
        return self._add(service, [Delay(seconds)], describe=f"delay {seconds}s", **scope)

    def refuse(self, service: str | None = None, **scope: Any) -> Fault:
        """Connections are refused (``ECONNREFUSED`` at connect; connections already open
        to the endpoint are closed, as a dead process's are)."""
        from ._outcomes import Refuse

        return self._add(service, [Refuse()], describe="connection refused", **scope)

    def reset_before_headers(self, service: str | None = None, **scope: Any) -> Fault:
        """The request is delivered, then the connection closes before response headers."""
        from ._outcomes import ResetBeforeHeaders

        return self._add(service, [ResetBeforeHeaders()], describe="reset before headers", **scope)

    def reset_mid_body(
        self, service: str | None = None, *, after_bytes: int = 0, **scope: Any
    ) -> Fault:
        """Response headers and ``after_bytes`` of the body arrive, then the connection
        closes."""
        from ._outcomes import ResetMidBody

        return self._add(service, [ResetMidBody(after_bytes)], describe="reset mid-body", **scope)

    def stall(
        self,
        service: str | None = None,
        *,
        after_bytes: int = 0,
        seconds: float | None = None,
        **scope: Any,
    ) -> Fault:
        """Response headers and ``after_bytes`` of the body arrive, then nothing for
        ``seconds`` (None: until the reader gives up): read timeouts really fire."""
        from ._outcomes import Stall

        return self._add(service, [Stall(after_bytes, seconds)], describe="stalled body", **scope)

    def slow_body(
        self,
        service: str | None = None,
        *,
        chunk_bytes: int = 64,
        seconds_per_chunk: float = 0.01,
        **scope: Any,
    ) -> Fault:
        """The body arrives ``chunk_bytes`` at a time, ``seconds_per_chunk`` apart."""
        from ._outcomes import SlowBody

        return self._add(
            service,
            [SlowBody(chunk_bytes, seconds_per_chunk)],
            describe="slow body",
            **scope,
        )

    def tls_failure(self, service: str | None = None, **scope: Any) -> Fault:
        """The TLS handshake fails (a connect failure with an SSL error as its cause)."""
        from ._outcomes import TLSFailure

        return self._add(service, [TLSFailure()], describe="TLS handshake failure", **scope)

    def dns_failure(self, host: str, **scope: Any) -> Fault:
        """``host`` does not resolve (``socket.gaierror`` at connect), for external hosts
        and DNS-resolved ServiceEntry endpoints."""
        from ._outcomes import DNSFailure

        return self._add(host, [DNSFailure()], describe="DNS failure", **scope)

    def sequence(
        self, service: str | None, outcomes: Iterable[int | str | Outcome | None], **scope: Any
    ) -> Fault:
        """One outcome per matching request, in order, then pass: a status (``503``), an
        outcome name (``"reset"``, ``"reset-mid-body"``, ``"stall"``, ``"refuse"``...), an
        outcome object, or None (pass)."""
        outs = [outcome_of(o) for o in outcomes]
        return self._add(service, outs, sequence=True, describe="sequence", **scope)

    # -- asking -----------------------------------------------------------------------------

    def discard(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        """End every fault."""
        with self._lock:
            self._faults.clear()
            had_routes, self._routes = bool(self._routes), []
        if had_routes and self.push_routes is not None:
            self.push_routes([])

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(self._faults)

    def _decide(self, ep: EndpointInfo, connect: bool, method: str, path: str) -> Outcome | None:
        with self._lock:
            for f in self._faults:
                if f.connect_phase != connect or not f.target.matches(ep):
                    continue
                if not connect and not f.target.matches_request(method, path):
                    continue
                out = f.decide(RNG)
                if out is not None:
                    return out
        return None

    def connect_outcome(self, ep: EndpointInfo) -> Outcome | None:
        """What happens to a new connection to ``ep`` (None: it connects)."""
        return self._decide(ep, True, "", "")

    def request_outcome(self, ep: EndpointInfo, method: str, path: str) -> Outcome | None:
        """What happens to a request sent to ``ep`` (None: it is answered by the app)."""
        return self._decide(ep, False, method, path)

    def refusing(self, ep: EndpointInfo) -> bool:
        """A connect-phase fault targets ``ep``: pooled connections to it are dropped (the
        pool sees them closed by the peer), so the next request connects and meets it."""
        with self._lock:
            return any(
                f.connect_phase and not f.exhausted and f.target.matches(ep) for f in self._faults
            )
