"""``inmesh status --proxies``: every watching client, as ``istioctl proxy-status`` shows
its proxies (a pure function over ``GET /v1/proxies``, so it is tested without one).

NAME is ``service.namespace`` and the client's short id (a pod name's role), REVISION
the registry revision it applied, STATUS ``SYNCED`` when that is the registry's current
revision and ``STALE`` otherwise, REJECTED how many resources it did not apply, each then
on its own indented line with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._status import table

__all__ = ["render_proxies"]


def render_proxies(data: Mapping[str, Any], *, namespace: str | None = None) -> str:
    """The table for a ``GET /v1/proxies`` answer (only ``namespace``'s, when given)."""
    items = [p for p in data.get("items", ()) if namespace in (None, p.get("namespace"))]
    head = f"Registry revision {data.get('revision', 0)} (store {data.get('store') or '-'})."
    if not items:
        return f"{head}\nNo proxies" + (f" in namespace {namespace}." if namespace else ".")
    rows = [
        (
            f"{p['service']}.{p['namespace']} ({p['id']})",
            str(p["applied"]) if p["applied"] else "-",
            p["status"],
            str(len(p["rejections"])),
        )
        for p in items
    ]
    lines = table(("NAME", "REVISION", "STATUS", "REJECTED"), rows)
    out = [head, lines[0]]
    for line, proxy in zip(lines[1:], items, strict=True):
        out.append(line)
        out += [
            f"    {r['kind']} {r['namespace']}/{r['name']}: {r['reason']}"
            for r in proxy["rejections"]
        ]
    return "\n".join(out)
