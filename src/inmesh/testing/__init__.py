"""inmesh.testing: prove in an ordinary test run that a service survives the failures
Istio's fault-injection tasks simulate in a cluster.

==================================  ========================================================
what                                where
==================================  ========================================================
:class:`Sandbox`                    a mesh per test: config, workloads (ASGI apps) served
                                    in memory or on 127.0.0.1 ports, clients (``_sandbox``)
:func:`workload`                    a workload: service, version, labels, replicas
                                    (``_workloads``)
:class:`FaultPlan`, :class:`Fault`  faults scoped to a service, subset, endpoint, method,
                                    path; percentage, first N, sequences (``_faults``):
                                    abort, gRPC status, delay, refused, reset before
                                    headers / mid-body, stall, slow body, TLS, DNS
``Sandbox.remove_endpoint``         an endpoint disappearing from discovery
:class:`Requests`, :class:`Request` what the mesh did: records with the tries the wire saw,
                                    ``retried()``, ``sent_twice("POST")`` (``_records``);
                                    ``Sandbox.ejected(endpoint)``
:func:`deterministic`               seeded random choices, back-off waits shortened
                                    (``_determinism``; stamina's testing mode)
``inmesh.testing.pytest_plugin``    the fixtures ``inmesh_mesh``, ``mesh_faults``,
                                    ``mesh_requests`` and the ``inmesh`` marker
==================================  ========================================================

Faults act at the wire (``_wire``: httpcore network backends under the mesh's own pools),
so the mesh's retries, timeouts, outlier detection and telemetry react to them as to the
real failures. See docs/testing.md.
"""

from __future__ import annotations

from ._determinism import deterministic, is_deterministic
from ._faults import Fault, FaultPlan
from ._records import Request, Requests
from ._sandbox import Sandbox
from ._wire import Try
from ._workloads import Workload, workload

__all__ = [
    "Fault",
    "FaultPlan",
    "Request",
    "Requests",
    "Sandbox",
    "Try",
    "Workload",
    "deterministic",
    "is_deterministic",
    "workload",
]
