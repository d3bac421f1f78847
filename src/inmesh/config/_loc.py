"""Field locations: ``("spec", "http", 0)`` and its dotted form ``spec.http[0]``.

(The values at a support-table path, ``spec.http[].corsPolicy``, are found in a loaded
model by :mod:`inmesh.config._model_paths`.)"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["Loc", "format_loc"]

Loc = tuple[str | int, ...]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_loc(loc: Sequence[str | int]) -> str:
    """``("spec", "http", 0, "route", 1, "weight")`` -> ``spec.http[0].route[1].weight``.

    Map keys that are not identifiers are bracketed: ``headers["end-user"]``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]".replace("'", '"')
    return out
