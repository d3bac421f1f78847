"""The rules a connection can still match: :meth:`WorkloadAuthorizer.check_raw`'s plan.

Every rule is a conjunction of what the connection decides (source principal, namespace,
IPs, destination port, SNI: the ``from`` sources and the ``when`` conditions on those
keys) and what each request decides (the ``to`` operations and ``request.headers``
conditions). A server sends many requests over one connection, so the connection half is
evaluated once per distinct connection (its facts are the cache key: nothing a request
carries is cached), giving per group (DENY, ALLOW, AUDIT, dry-run) the candidates in
policy order; a request then only runs the request half of those candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._authz_request import Decision

if TYPE_CHECKING:
    from ._authz_policy import CompiledPolicy

__all__ = ["Candidates", "GroupPlan", "first_match"]

_CONNECTION_ARGS = "p, u, ns, si, ri, di, sn, po"
_REQUEST_ARGS = "m, h, pa, po, hd"
_RequestMatch = Callable[[Any, Any, Any, Any, Any], bool]
#: ``(request half or None when the rule has none, the rule's Decision)``, in order.
Candidates = tuple[tuple["_RequestMatch | None", Decision], ...]


class GroupPlan:
    """One group of rules (e.g. the enforced DENY policies), split for connections."""

    def __init__(
        self,
        label: str,
        policies: Sequence[CompiledPolicy],
        decisions: Sequence[Decision],
        namespace: dict[str, Any],
        sources: list[str],
    ) -> None:
        """``decisions``: each rule's Decision, in the order of the policies' rules."""
        parts = [part for policy in policies for part in policy.parts]
        lines = [f"def _conn_{label}({_CONNECTION_ARGS}):", "    return ("]
        requests: list[str] = []
        for i, (connection, request) in enumerate(parts):
            lines.append(f"        {connection or 'True'},")
            if request is not None:
                requests.append(f"def _req_{label}_{i}({_REQUEST_ARGS}):\n    return {request}")
        lines.append("    )")
        code = "\n".join(lines + requests)
        sources.append(code)
        exec(compile(code, f"<authz {label} by connection>", "exec"), namespace)
        self._connection: Callable[..., tuple[bool, ...]] = namespace[f"_conn_{label}"]
        self._rules: list[tuple[_RequestMatch | None, Decision]] = [
            (namespace.get(f"_req_{label}_{i}") if parts[i][1] is not None else None, d)
            for i, d in enumerate(decisions)
        ]

    def candidates(self, connection_facts: tuple[Any, ...]) -> Candidates:
        """The rules whose connection half holds for ``connection_facts``, in order."""
        held = self._connection(*connection_facts)
        return tuple(rule for rule, ok in zip(self._rules, held, strict=True) if ok)


def first_match(
    candidates: Candidates, m: Any, h: Any, pa: Any, po: Any, hd: Any
) -> Decision | None:
    """The Decision of the first candidate whose request half holds, else None."""
    for match, decision in candidates:
        if match is None or match(m, h, pa, po, hd):
            return decision
    return None
