"""The Sandbox: a mesh in one process, with workloads, faults and the test's records.

One :class:`~inmesh.Mesh` per workload (each calls out as itself: ``inmesh.current_mesh()``
inside a request it serves is its own) and one for the test's own client, all compiled from
the same configuration plus the WorkloadEntries that place the replicas; every connection
they open goes through the wire (:mod:`._wire`): in memory by default, or to uvicorn
servers on 127.0.0.1 with ``network="tcp"``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import httpcore
import httpx

from .._mesh import Mesh
from .._middleware import MeshMiddleware
from .._state import NetworkBackends
from ..config import parse_documents
from ..routing._hosts import to_fqdn
from ..routing._mtls import TLS_MODE_ISTIO, TLS_MODE_LABEL
from ._config import ConfigInput, config_resources, with_route_faults
from ._faults import FaultPlan
from ._memory import Directory, MemoryBackend, Served, SyncMemoryBackend
from ._records import Request, Requests
from ._rules import EndpointInfo, RouteFault
from ._tcp import UvicornServer
from ._tries import WireLog
from ._wire import FaultyBackend, SyncFaultyBackend
from ._workloads import (
    DEFAULT_PORT,
    Instance,
    Workload,
    as_workload,
    entry_doc,
    service_doc,
    service_port,
)


class Sandbox:
    """A mesh in one process for a test: ``workloads`` (ASGI apps by name, ``{"reviews-v2":
    app}``, or :func:`~inmesh.testing.workload` declarations) served as mesh endpoints,
    ``config`` (YAML text, paths, or resources) as every workload's configuration,
    ``externals`` (``{"api.example.com": app}``) for hosts outside the mesh.

    ``client()`` / ``sync_client()`` call into the mesh as ``service`` (the test's own
    workload); ``faults`` injects failures; ``requests`` is what happened. ``network``:
    ``"memory"`` (no sockets) or ``"tcp"`` (uvicorn on 127.0.0.1 ephemeral ports). Each
    workload runs behind ``MeshMiddleware`` as under ``inmesh serve`` (under ``tcp``, on the
    mesh listener too); ``ca`` (a CA directory, ``tcp`` only) gives every Mesh a workload
    certificate, so mesh mTLS, PeerAuthentication and AuthorizationPolicy by principal
    apply.
    """

    def __init__(
        self,
        *,
        config: ConfigInput = None,
        workloads: Mapping[str, Any] | Iterable[Workload] | None = None,
        externals: Mapping[str, Any] | None = None,
        service: str = "test-client",
        namespace: str = "default",
        labels: Mapping[str, str] | None = None,
        network: Literal["memory", "tcp"] = "memory",
        outbound_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY",
        faults: FaultPlan | None = None,
        requests: Requests | None = None,
        ca: str | os.PathLike[str] | None = None,
    ) -> None:
        if network not in ("memory", "tcp"):
            raise ValueError(f"network must be 'memory' or 'tcp', not {network!r}")
        if ca is not None and network != "tcp":
            raise ValueError("mesh mTLS (ca=) needs network='tcp': TLS is not simulated in memory")
        self._ca = ca
        self.network = network
        self.namespace = namespace
        self.faults = faults if faults is not None else FaultPlan()
        if self.faults.subset_labels is None:
            self.faults.subset_labels = self.subset_labels
        if self.faults.push_routes is None:
            self.faults.push_routes = self._push_routes
        self._route_faults: Sequence[RouteFault] = ()
        self.requests = requests if requests is not None else Requests()
        #: the destination side's records (MeshMiddleware's, one per request a workload got)
        self.received: list[Any] = []
        self.directory = Directory()
        self.wire = WireLog()
        self._config = config_resources(config)
        if isinstance(workloads, Mapping):
            self.workloads = [as_workload(k, v) for k, v in workloads.items()]
        else:
            self.workloads = list(workloads or ())
        names = [w.name for w in self.workloads]
        if len(set(names)) != len(names):
            raise ValueError(f"workload names must be unique: {sorted(names)}")
        self._removed: set[str] = set()
        self._servers: list[UvicornServer] = []
        self._closed = False
        self._meshes: dict[str, Mesh] = {}
        if network == "memory":
            self._amem: MemoryBackend | None = MemoryBackend(self.directory)
            self._smem: SyncMemoryBackend | None = SyncMemoryBackend(self.directory)
            a_inner: Any = self._amem
            s_inner: Any = self._smem
        else:
            if externals:
                raise ValueError("externals are served in memory only (network='memory')")
            self._amem = self._smem = None
            a_inner, s_inner = httpcore.AnyIOBackend(), httpcore.SyncBackend()
        self.backends = NetworkBackends(
            FaultyBackend(a_inner, self.directory, self.faults, self.wire),
            SyncFaultyBackend(s_inner, self.directory, self.faults, self.wire),
        )
        try:
            self.instances = self._place()
            resources = self._resources()
            self.mesh = Mesh(
                service=service,
                namespace=namespace,
                labels=labels,
                config=resources,
                outbound_policy=outbound_policy,
                network=self.backends,
                ca=ca,
            )
            self.mesh.add_hook(self._on_record)
            for w in self.workloads:
                m = Mesh(
                    service=w.service,
                    namespace=w.namespace,
                    labels=w.all_labels(),
                    config=resources,
                    outbound_policy=outbound_policy,
                    network=self.backends,
                    ca=ca,
                )
                m.add_hook(self._on_record)
                self._meshes[w.name] = m
        except BaseException:
            self.close()
            raise
        for inst in self.instances:
            served = self.directory.by_address[(inst.address, inst.port)]
            served.mesh = self._meshes[inst.workload.name]
            # the inbound half, as `inmesh serve` runs every workload: identity headers
            # stripped, AuthorizationPolicy, request id, the destination's record
            served.app = MeshMiddleware(inst.workload.app, mesh=served.mesh)
        try:
            for inst, server in zip(
                [i for i in self.instances if network == "tcp"], self._servers, strict=True
            ):
                w = inst.workload
                server.start(w.app, self._meshes[w.name], **w.server_options)
        except BaseException:
            self.close()
            raise
        for host, app in (externals or {}).items():
            info = EndpointInfo(key=host, hosts=frozenset({host}), name=host)
            self.directory.by_host[host] = Served(app, info)

    # -- placement and configuration ---------------------------------------------------------

    def _place(self) -> list[Instance]:
        out: list[Instance] = []
        n = 0
        for w in self.workloads:
            if w.server_options and self.network != "tcp":
                raise ValueError(
                    f"workload {w.name!r}: server_options (uvicorn settings) need network='tcp'"
                )
            declared = service_port(self._config, w.service, w.namespace)
            number, port_name = declared or (w.port or DEFAULT_PORT, "http")
            for i in range(w.replicas):
                n += 1
                if self.network == "memory":
                    address, port = f"127.1.{n // 250}.{n % 250 + 1}", number
                else:  # bound now, served once the workload's Mesh exists
                    server = UvicornServer()
                    self._servers.append(server)
                    address, port = "127.0.0.1", server.port
                inst = Instance(w, i, address, port, port_name, number)
                info = EndpointInfo(
                    key=inst.key,
                    hosts=frozenset({w.service, to_fqdn(w.service, w.namespace)}),
                    labels=w.all_labels(),
                    name=inst.name,
                )
                self.directory.by_address[(address, port)] = Served(w.app, info)
                out.append(inst)
        return out

    def _resources(self) -> list[Any]:
        docs: list[Any] = []
        generated: set[tuple[str, str]] = set()
        for inst in self.instances:
            w = inst.workload
            key = (w.service, w.namespace)
            if key not in generated and service_port(self._config, *key) is None:
                generated.add(key)
                docs.append(service_doc(w, inst.service_port))
        # each replica's WorkloadEntry names its own port (an ephemeral one under "tcp")
        docs.extend(entry_doc(i) for i in self.instances if i.name not in self._removed)
        if self._ca is not None:
            for d in docs:  # a sidecar with a certificate: Istio's auto mTLS applies
                if d["kind"] == "WorkloadEntry":
                    d["spec"]["labels"][TLS_MODE_LABEL] = TLS_MODE_ISTIO
        config = with_route_faults(self._config, self._route_faults)
        return [*config, *parse_documents(docs, source="<inmesh.testing workloads>")]

    def _push_routes(self, faults: Sequence[RouteFault]) -> None:
        with_route_faults(self._config, faults)  # a route no VirtualService names: refused
        self._route_faults = tuple(faults)
        if not self._closed:
            self._reapply()

    def _reapply(self) -> None:
        resources = self._resources()
        for m in (self.mesh, *self._meshes.values()):
            m.apply(resources)

    def apply(self, config: ConfigInput) -> None:
        """Replace the configuration (the workloads stay placed), in every workload's mesh,
        atomically each (as istiod pushes a change)."""
        self._config = config_resources(config)
        self._reapply()

    def subset_labels(self, service: str, subset: str) -> Mapping[str, str]:
        """The labels of ``subset`` of ``service`` (its DestinationRule's)."""
        fqdn = to_fqdn(service, self.namespace)
        for r in self.mesh.resources:
            if r.kind != "DestinationRule" or to_fqdn(r.spec.host, r.namespace) != fqdn:
                continue
            for s in r.spec.subsets:
                if s.name == subset:
                    return dict(s.labels)
        raise ValueError(f"no DestinationRule subset {subset!r} for host {fqdn}")

    # -- endpoints ---------------------------------------------------------------------------

    def _instance(self, endpoint: str) -> Instance:
        for inst in self.instances:
            if endpoint in (inst.name, inst.key):
                return inst
        known = ", ".join(i.name for i in self.instances)
        raise KeyError(f"no endpoint {endpoint!r}: the workloads' replicas are {known}")

    def endpoints(self, service: str | None = None) -> list[str]:
        """The replicas' instance names (``reviews-v1-0``), of ``service`` or all."""
        return [i.name for i in self.instances if service is None or i.workload.service == service]

    def address(self, endpoint: str) -> str:
        """``address:port`` of an instance (the endpoint key records carry)."""
        return self._instance(endpoint).key

    def remove_endpoint(self, endpoint: str) -> _Restore:
        """Take the replica out of discovery (its WorkloadEntry deleted and pushed); the app
        keeps serving connections already open. ``with`` block or ``.restore()``."""
        inst = self._instance(endpoint)
        self._removed.add(inst.name)
        self._reapply()
        return _Restore(self, inst.name)

    def restore_endpoint(self, endpoint: str) -> None:
        """Put a removed replica back into discovery."""
        self._removed.discard(self._instance(endpoint).name)
        self._reapply()

    def ejected(self, endpoint: str, *, by: str | None = None) -> bool:
        """Whether outlier detection has ``endpoint`` (instance name or address) ejected,
        in the test client's view or in workload ``by``'s."""
        key = self.address(endpoint)
        mesh = self.mesh if by is None else self.mesh_of(by)
        now = time.monotonic()
        for cluster in mesh.snapshot.clusters.values():
            outlier = cluster.state.outlier
            if outlier is not None and outlier.is_ejected(key, now):
                return True
        return False

    # -- clients and meshes ------------------------------------------------------------------

    def mesh_of(self, workload: str) -> Mesh:
        """The Mesh workload ``workload`` (``reviews-v1``) calls out with."""
        try:
            return self._meshes[workload]
        except KeyError:
            raise KeyError(f"no workload {workload!r}: {sorted(self._meshes)}") from None

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` through the mesh, as the test's own workload."""
        return self.mesh.client(**kwargs)

    def sync_client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` through the mesh, as the test's own workload."""
        return self.mesh.sync_client(**kwargs)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the in-memory apps raised (each answered 500, as uvicorn does)."""
        return self.directory.errors

    def _on_record(self, record: Any) -> None:
        if record.reporter != "source":
            self.received.append(record)
            return
        self.requests.append(Request(record, tuple(self.wire.take())))

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """End the faults, stop the servers and in-memory connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.faults.clear()
        if self._amem is not None:
            self._amem.cancel()
        if self._smem is not None:
            self._smem.close()
        for s in self._servers:
            s.stop()
        for m in (getattr(self, "mesh", None), *self._meshes.values()):
            if m is not None:
                m.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """``close()``, after the in-memory apps' lifespan shutdown ran in this loop."""
        loop = asyncio.get_running_loop()
        for served in self.directory.all():
            lifespan = served.lifespans.pop(loop, None)
            if lifespan is not None:
                await lifespan.shutdown()
        self.close()

    def __await__(self) -> Generator[Any, None, Sandbox]:
        """``await inmesh_mesh(...)`` works as well as a plain call (nothing to wait for)."""
        return self
        yield


class _Restore:
    """Puts a removed endpoint back: ``with sandbox.remove_endpoint(...)`` or
    ``.restore()``."""

    def __init__(self, sandbox: Sandbox, name: str) -> None:
        self._sandbox = sandbox
        self._name = name

    def restore(self) -> None:
        self._sandbox.restore_endpoint(self._name)

    def __enter__(self) -> _Restore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
