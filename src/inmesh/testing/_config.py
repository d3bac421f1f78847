"""The Sandbox's configuration: from YAML text, files or resources, and with the route
faults in force set on their VirtualService routes (Istio's ``http[].fault``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from ..config import load_config, parse_documents
from ._rules import RouteFault

ConfigInput = str | os.PathLike[str] | Iterable[Any] | None


def _is_yaml_text(value: str) -> bool:
    head = value.lstrip()
    return "\n" in value or head.startswith(("apiVersion", "kind:", "---", "{", "["))


def config_resources(config: ConfigInput) -> list[Any]:
    """Resources from YAML text, a path, several paths, or resources / dicts."""
    if config is None:
        return []
    if isinstance(config, str) and _is_yaml_text(config):
        import yaml

        return list(parse_documents(list(yaml.safe_load_all(config)), source="<yaml text>"))
    if isinstance(config, (str, os.PathLike)):
        return list(load_config(config))
    items = list(config)
    if items and all(isinstance(c, (str, os.PathLike)) for c in items):
        out: list[Any] = []
        for c in items:
            out.extend(config_resources(c))
        return out
    return list(parse_documents(items))


def with_route_faults(resources: list[Any], faults: Sequence[RouteFault]) -> list[Any]:
    """``resources`` with each fault set on the VirtualService route it names (Istio's
    ``http[].fault``: HTTPFaultInjection, abort or delay with a percentage)."""
    if not faults:
        return resources
    out = list(resources)
    for rf in faults:
        for i, r in enumerate(out):
            if r.kind != "VirtualService":
                continue
            names = [h.name for h in r.spec.http]
            if rf.route not in names:
                continue
            doc = r.model_dump(by_alias=True, exclude_defaults=True, mode="json")
            doc["apiVersion"], doc["kind"] = r.api_version, r.kind
            doc["metadata"]["namespace"] = r.namespace
            doc["spec"]["http"][names.index(rf.route)]["fault"] = rf.fault
            out[i] = parse_documents([doc], source=f"<route fault {rf.describe}>")[0]
            break
        else:
            raise ValueError(f"no VirtualService has an http route named {rf.route!r}")
    return out
