"""Gateway analyzers (Istio's ``analyzers/gateway``): filled in below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._message import Message


def check_gateways(resources: Sequence[Any]) -> list[Message]:
    return []
