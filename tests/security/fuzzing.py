"""How far the hypothesis-driven tests of this folder explore.

Every `make test` (CI included) runs a fixed set of examples: derandomized, so a run is
reproducible and a change cannot fail on an example an earlier run never drew. `make fuzz`
explores instead: random examples, `MLOPS_FUZZ_SCALE` (default 10) times as many, to find what
the fixed set misses; what it finds becomes an `@example` of the fixed set.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import settings

EXPLORE = os.environ.get("MLOPS_FUZZ_EXPLORE") == "1"
SCALE = int(os.environ.get("MLOPS_FUZZ_SCALE", "10")) if EXPLORE else 1


def fuzz_settings(max_examples: int, **more: Any) -> settings:
    """`max_examples` per run (times `SCALE` when exploring), no deadline, derandomized unless
    exploring."""
    return settings(
        max_examples=max_examples * SCALE, deadline=None, derandomize=not EXPLORE, **more
    )
