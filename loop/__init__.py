"""The closed loop, proven offline: the real plan, moto's server with IAM on, the real handlers.

`loop.stack` reads the plan; `loop.server` runs moto with the harness's IAM decisions
(`loop.iam`); `loop.functions` runs the handlers as Lambda would; `loop.harness.ClosedLoop`
puts them together. `python -m loop` (`make loop`) is the demo; `tests/e2e` the proof.
"""

import sys
from pathlib import Path

# As infra/__main__.py does for the program: the handlers' shared settings modules
# (`retrain_settings`, `mlops_drift.settings`, `capture_settings`) are top-level next to their
# handlers.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (
    str(_ROOT),
    *(str(_ROOT / "lambdas" / d) for d in ("drift_check", "retrain_trigger", "capture_proxy")),
):
    if _path not in sys.path:
        sys.path.append(_path)
