"""What the authorization evaluator is asked about, and what it answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field

from ._identity import SPIFFE_SCHEME

__all__ = ["AuthzRequest", "Decision"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthzRequest:
    """One inbound request, as the workload's sidecar would see it. Every field is optional;
    a rule that needs a field the request does not have does not match (its ``not*`` form
    does), as Envoy treats an absent attribute.

    - ``method``, ``path`` (the request target as sent: still percent-encoded, may carry a
      query), ``host`` (the ``Host``/``:authority`` value as sent, port included if the
      client put one), ``headers`` (names case-insensitive; repeated headers are joined
      with ``,`` as Envoy does);
    - ``port``: the destination port (the port the workload accepted the request on);
    - ``source_principal``: the verified peer identity, Istio's principal form
      (``cluster.local/ns/a/sa/x``; a leading ``spiffe://`` is accepted). Only an mTLS peer
      has one.
    - ``source_namespace``: read from the principal when omitted; given alone it stands
      for an mTLS peer known only by its namespace.
    - ``source_ip`` (Istio's ``source.ip``, the direct peer), ``remote_ip`` (``remote.ip``,
      the original client; defaults to ``source_ip``), ``destination_ip``, ``sni``; the
      IPs are parsed only when a policy reads them (a ValueError then, if malformed);
    - ``mtls``: whether the connection is mutual TLS; by default, whether a principal or
      namespace is given. ``mtls=False`` with a principal is a contradiction (ValueError).
    """

    method: str | None = None
    path: str | None = None
    host: str | None = None
    port: int | None = None
    headers: Headers = field(default_factory=dict)
    source_principal: str | None = None
    source_namespace: str | None = None
    source_ip: str | None = None
    remote_ip: str | None = None
    destination_ip: str | None = None
    mtls: bool | None = None
    sni: str | None = None

    def __post_init__(self) -> None:
        principal = self.source_principal
        if principal is None and self.source_namespace is None and self.port is None:
            return  # nothing to check (the common plaintext case stays cheap)
        if principal is not None and principal.startswith(SPIFFE_SCHEME):
            principal = principal[len(SPIFFE_SCHEME) :]
            object.__setattr__(self, "source_principal", principal)
        if self.mtls is False and (principal is not None or self.source_namespace is not None):
            raise ValueError(
                "a plaintext request (mtls=False) has no source principal or namespace"
            )
        if principal is not None and self.source_namespace is not None:
            parts = principal.split("/")
            if len(parts) < 3 or parts[1] != "ns" or parts[2] != self.source_namespace:
                raise ValueError(
                    f"source_namespace {self.source_namespace!r} does not match the "
                    f"principal {principal!r}"
                )
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {self.port}")

    @property
    def is_mtls(self) -> bool:
        if self.mtls is not None:
            return self.mtls
        return self.source_principal is not None or self.source_namespace is not None

    def header_map(self) -> dict[str, str]:
        """Headers by lower-case name, repeated ones joined with ``,``."""
        headers = self.headers
        is_map = type(headers) is dict or isinstance(headers, Mapping)
        if is_map:
            fast = {name.lower(): value for name, value in headers.items()}  # type: ignore[union-attr]
            if len(fast) == len(headers):  # type: ignore[arg-type]
                return fast
        items = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            out[key] = f"{out[key]},{value}" if key in out else value
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: ``allowed``, and the policy (``namespace/name``) that decided, if one did.

    ``action`` is ``"ALLOW"`` or ``"DENY"``: what happens to the request. ``reason`` says why
    in words; ``rule`` is the index of the matching rule in ``policy``. Policies annotated
    ``istio.io/dry-run: "true"`` never decide: ``dry_run_policy`` names one that matched,
    and ``dry_run_allowed`` is what the decision would be if every dry-run policy were
    enforced (``None`` when no dry-run policy applies). ``audit_policy`` names an AUDIT
    policy that matched (Istio marks such a request for its audit log).
    """

    allowed: bool
    policy: str | None
    action: str
    _: KW_ONLY
    reason: str = ""
    rule: int | None = None
    dry_run_policy: str | None = None
    dry_run_allowed: bool | None = None
    audit_policy: str | None = None
