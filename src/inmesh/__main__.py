"""``python -m inmesh``: the same as the ``inmesh`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
