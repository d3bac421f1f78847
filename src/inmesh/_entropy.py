"""The mesh's one source of randomness, and the back-off scale.

Every random draw on the request path reads :data:`RNG`: route weights (``WeightedChoice``),
load balancers (their start offsets and picks), retry back-off jitter and ``Retry-After``
jitter, fault percentages and mirror percentages. Balancers and routes keep a reference to
this one generator, so re-seeding it in place (``RNG.seed(n)``) makes every later draw of a
process reproducible: ``inmesh.testing.deterministic()`` does that, and sets
``backoff_scale`` (the factor applied to each retry's back-off wait: 1.0 in production) as
stamina's testing mode shortens its waits.
"""

from __future__ import annotations

import random

#: the generator every random decision of the mesh draws from (re-seed it in place)
RNG = random.Random()


class _Backoff:
    """A holder for the retry back-off factor (read at each retry, so it can change)."""

    __slots__ = ("scale",)

    def __init__(self) -> None:
        self.scale = 1.0


#: ``BACKOFF.scale`` multiplies every retry's back-off wait (route deadlines still apply)
BACKOFF = _Backoff()
