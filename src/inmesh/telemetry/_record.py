"""One record per request, successful or not: what Istio's standard metrics are made from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._policy import TelemetryPolicy

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class AsgiHeaders(Mapping[str, str]):
    """An ASGI scope's header list read as a mapping, decoded on lookup only (a record is
    built for every request; most hooks never read a header). Names are lowercase, as
    ASGI gives them; a repeated header reads as its values joined by ``,``."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def __getitem__(self, name: str) -> str:
        key = name.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in self._raw if k == key]
        if not values:
            raise KeyError(name)
        return ",".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k.decode("latin-1") for k, _ in self._raw))

    def __len__(self) -> int:
        return len(dict.fromkeys(k for k, _ in self._raw))


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request, as its reporter saw it (hooks read it; it is not
    frozen only because a frozen dataclass of this size costs ~4 us more to build, on
    every request).

    Field names follow Istio's standard metric labels where one exists
    (``source_workload``, ``destination_service``, ``response_flags``...). ``duration`` is in
    seconds, from the transport receiving the request to the response body being closed.
    ``attempts`` counts tries sent upstream (0 when the mesh answered itself).
    ``details`` is Envoy's ``%RESPONSE_CODE_DETAILS%`` (``via_upstream``,
    ``response_timeout``, ``upstream_reset_before_response_started{connection_failure}``...);
    ``error`` says why the mesh failed the request, named by its tier
    (``endpoint 127.0.0.1:9080: connection refused``), empty when nothing failed.

    The fields after ``error`` feed Istio's standard labels (``telemetry/_labels.py``); an
    empty string is Istio's ``unknown``:

    - ``reporter``: ``"source"`` (the outbound transport) or ``"destination"``
      (``MeshMiddleware``).
    - ``request_protocol``: ``"http"`` or ``"grpc"`` (a ``content-type: application/grpc*``
      request), as Istio's stats filter; ``grpc_status`` the ``grpc-status`` of a gRPC
      response, empty otherwise.
    - ``request_bytes``, ``response_bytes``: body sizes in bytes.
    - ``source_workload`` / ``destination_workload``: the workload's stable name (Istio's
      Deployment or WorkloadGroup name, not one instance's), empty when not known;
      ``destination_namespace`` its namespace (Istio takes it from the peer certificate's
      ``/ns/`` part first).
    - ``source_principal`` / ``destination_principal``: SPIFFE ids with ``spiffe://``,
      from certificates only, empty when the connection had none.
    - ``source_labels`` / ``destination_labels``: workload labels (``app``, ``version``,
      ``service.istio.io/canonical-name``...), pass the same mapping object for every
      request of one workload: the metrics hook caches by it.
    - ``source_cluster`` / ``destination_cluster``: Istio's cluster id, empty when unknown.
    - ``connection_security_policy``: ``"mutual_tls"`` or ``"none"`` on the destination
      side, ``"unknown"`` on the source side (Istio's rule: the client cannot tell).

    The fields after ``connection_security_policy`` feed Envoy's access log (empty is
    Envoy's ``-``): ``protocol`` (``HTTP/1.1``, ``HTTP/2``), ``query`` (the query string
    after ``path``, without ``?``), ``request_headers`` (the
    request's headers as the reporter saw them, read lazily; :attr:`authority`,
    :attr:`user_agent`, :attr:`request_id` and :attr:`forwarded_for` come from them), the
    connection addresses (``ip:port``) and the TLS server name the client asked for, and
    ``telemetry``: the workload's resolved Telemetry API policy when the record was made.
    """

    source_service: str
    source_namespace: str
    source_version: str
    destination_service: str
    destination_subset: str
    destination_endpoint: str
    route_name: str
    cluster: str
    method: str
    path: str
    status: int
    response_flags: str
    attempts: int
    duration: float
    start_time: float
    details: str = ""
    error: str = ""
    reporter: Literal["source", "destination"] = "source"
    request_protocol: str = "http"
    grpc_status: str = ""
    request_bytes: int = 0
    response_bytes: int = 0
    source_workload: str = ""
    source_principal: str = ""
    source_labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    source_cluster: str = ""
    destination_workload: str = ""
    destination_namespace: str = ""
    destination_principal: str = ""
    destination_labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    destination_cluster: str = ""
    #: the destination side's authorization: ``ALLOW ns/name`` or ``DENY ns/name`` (``-``
    #: when no policy decided), empty when no AuthorizationPolicy was evaluated
    authorization: str = ""
    connection_security_policy: Literal["mutual_tls", "none", "unknown"] = "unknown"
    protocol: str = ""
    query: str = ""
    request_headers: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    upstream_local_address: str = ""
    downstream_local_address: str = ""
    downstream_remote_address: str = ""
    requested_server_name: str = ""
    telemetry: TelemetryPolicy | None = None

    @property
    def authority(self) -> str:
        """Envoy's ``%REQ(:AUTHORITY)%``: the Host (HTTP/1.1) or ``:authority`` (HTTP/2)."""
        h = self.request_headers
        return h.get("host") or h.get(":authority") or ""

    @property
    def user_agent(self) -> str:
        return self.request_headers.get("user-agent") or ""

    @property
    def request_id(self) -> str:
        return self.request_headers.get("x-request-id") or ""

    @property
    def forwarded_for(self) -> str:
        return self.request_headers.get("x-forwarded-for") or ""


RecordHook = Callable[[RequestRecord], None]
