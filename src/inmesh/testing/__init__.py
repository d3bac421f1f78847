"""inmesh.testing: prove in an ordinary test run that a service survives the failures
Istio's fault-injection tasks simulate in a cluster.

====================================  ======================================================
what                                  where
====================================  ======================================================
:class:`Sandbox`                      a mesh per test: config, workloads (ASGI apps) served
                                      in memory or on 127.0.0.1 ports, clients
                                      (``_sandbox``, ``_config``; ``_tcp`` for uvicorn)
:func:`workload`, :class:`Workload`   service, version, labels, replicas (``_workloads``)
:class:`FaultPlan`                    faults by service, subset, endpoint, method, path;
                                      percentage, first N, sequences (``_faults``): abort,
                                      gRPC status, delay, refused, reset before headers /
                                      mid-body, stall, slow body, TLS, DNS (``_outcomes``)
:class:`Fault`, :class:`RouteFault`   one rule, ended by ``remove()`` or its ``with`` block;
                                      a route's fault through Istio's filter (``_rules``)
``Sandbox.remove_endpoint``           an endpoint disappearing from discovery
:class:`Requests`, :class:`Request`   what the mesh did: records with the tries the wire
                                      saw (:class:`Try`, ``_tries``), ``retried()``,
                                      ``sent_twice("POST")`` (``_records``);
                                      ``Sandbox.ejected(endpoint)``
:func:`deterministic`                 seeded random choices, back-off waits shortened
                                      (``_determinism``; stamina's testing mode)
``inmesh.testing.pytest_plugin``      the fixtures ``inmesh_mesh``, ``mesh_faults``,
                                      ``mesh_requests`` and the ``inmesh`` marker
====================================  ======================================================

Underneath: ``_wire`` (httpcore network backends under the mesh's own pools that act the
faults out, raising what httpcore raises for the real failures: ``_errors``), ``_memory``
(in-memory connections), ``_server`` (an h11 server calling the ASGI app) and
``_lifespan`` (ASGI lifespan as uvicorn's ``auto``). The mesh's retries, timeouts,
outlier detection and telemetry react to a fault as to the real failure. See
docs/testing.md.
"""

from __future__ import annotations

from ._determinism import deterministic, is_deterministic
from ._faults import FaultPlan
from ._records import Request, Requests
from ._rules import Fault, RouteFault
from ._sandbox import Sandbox
from ._tries import Try
from ._workloads import Workload, workload

__all__ = [
    "Fault",
    "FaultPlan",
    "Request",
    "Requests",
    "RouteFault",
    "Sandbox",
    "Try",
    "Workload",
    "deterministic",
    "is_deterministic",
    "workload",
]
