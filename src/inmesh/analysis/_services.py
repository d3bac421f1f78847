"""Service and ServiceEntry analyzers (Istio's ``analyzers/service`` and
``analyzers/serviceentry``): filled in below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._message import Message


def check_services(resources: Sequence[Any]) -> list[Message]:
    return []
