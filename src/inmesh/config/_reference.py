"""Render the field reference of ``docs/configuration.md`` from the models and status table.

The reference lists every field of every kind with the status the runtime gives it
(:mod:`inmesh.config._support`). Regenerate the block between the markers with::

    .venv/bin/python -m inmesh.config._reference docs/configuration.md

A unit test fails when the file and the models disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from inmesh.config._field_rows import field_rows
from inmesh.config._kinds import BUILTIN_KINDS
from inmesh.config._resources import KINDS
from inmesh.config._support import (
    KIND_STATUS,
    UNMODELLED_KINDS,
    UNSUPPORTED,
    UNSUPPORTED_KINDS,
    UNSUPPORTED_VALUES,
)

__all__ = ["BEGIN", "END", "render_reference", "update_file"]

BEGIN = "<!-- BEGIN GENERATED FIELD REFERENCE (python -m inmesh.config._reference) -->"
END = "<!-- END GENERATED FIELD REFERENCE -->"
_ORDER = (
    "VirtualService",
    "DestinationRule",
    "ServiceEntry",
    "WorkloadEntry",
    "Gateway",
    "Sidecar",
    "PeerAuthentication",
    "AuthorizationPolicy",
    "Telemetry",
    "Service",
    "ServiceAccount",
    "Deployment",
)


#: kind -> the values its own checks refuse beyond the table (one sentence for the docs)
_VALUE_CHECKS = {
    "Telemetry": (
        "Also **not supported yet**: providers other than the built-in `prometheus` "
        "(metrics), `envoy` (access logs) and `opentelemetry` (tracing); the metrics "
        "`TCP_*` and `GRPC_*_MESSAGES`; tag names that are not Prometheus label names; "
        "CEL expressions outside the subset of "
        "[observability.md](observability.md#telemetry-api)."
    ),
}


def _code(text: str) -> str:
    """A table cell in a code span (a pipe still needs escaping inside GFM tables)."""
    return "`" + text.replace("|", "\\|") + "`"


def _kind_section(kind: str) -> list[str]:
    versions = KINDS[kind][1]
    lines = [f"### {kind}", "", "apiVersion: " + ", ".join(f"`{v}`" for v in versions), ""]
    if kind in UNSUPPORTED_KINDS:
        lines += [
            f"Every {kind} is **{UNSUPPORTED}**, whatever its fields (`spec: {{}}` included): "
            f"{UNSUPPORTED_KINDS[kind]}. Its fields are validated as listed.",
            "",
        ]
    if kind not in KIND_STATUS:
        lines += ["Only `metadata` is read (the service account name is a workload identity).", ""]
        return lines
    default = KIND_STATUS[kind]
    lines += [
        f"Fields not listed otherwise: **{default}**.",
        "",
        "| Field | Type | Status |",
        "| --- | --- | --- |",
    ]
    for row in field_rows(kind):
        status = row.status if row.status != UNSUPPORTED else f"**{row.status}**"
        if row.same_as:
            status += f"; its fields as under `{row.same_as}`"
        lines.append(f"| {_code(row.path)} | {_code(row.type_name)} | {status} |")
    for path, value in UNSUPPORTED_VALUES.get(kind, ()):
        shown = f"`{path}: {value}`" if isinstance(value, str) else f"`{path}` {value}"
        lines += ["", f"The value {shown} is **{UNSUPPORTED}**."]
    if kind in _VALUE_CHECKS:
        lines += ["", _VALUE_CHECKS[kind]]
    lines.append("")
    return lines


def _other_kinds() -> list[str]:
    lines = [
        "### Other kinds",
        "",
        f"Refused by name (**{UNSUPPORTED}**), by API group:",
        "",
    ]
    for group, kinds in UNMODELLED_KINDS.items():
        lines.append(f"- `{group}`: " + ", ".join(kinds))
    lines += [
        "",
        "Skipped by `load_config` and `inmesh analyze` (listed as `Info [INM0003]`), by API "
        "group (`core` is `apiVersion: v1`); other kinds of these groups are refused as "
        "unknown, and kinds of any other group (another controller's custom resources) are "
        "skipped too:",
        "",
    ]
    for group, builtin in BUILTIN_KINDS.items():
        skipped = sorted(k for k in builtin if k not in KINDS)
        lines.append(f"- `{group or 'core'}`: " + ", ".join(skipped))
    lines.append("")
    return lines


def render_reference() -> str:
    """The generated block, markers included."""
    lines = [BEGIN, ""]
    for kind in _ORDER:
        lines += _kind_section(kind)
    lines += _other_kinds()
    lines.append(END)
    return "\n".join(lines) + "\n"


def update_file(path: Path) -> bool:
    """Replace the generated block in ``path``; return whether the file changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    new = text[:start] + render_reference() + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/configuration.md")
    print(f"{target}: {'updated' if update_file(target) else 'up to date'}")
