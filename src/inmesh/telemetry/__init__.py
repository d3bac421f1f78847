"""Telemetry: the per-request record and the hooks it is delivered to."""

from __future__ import annotations

from ._record import RecordHook, RequestRecord

__all__ = ["RecordHook", "RequestRecord"]
