"""Entry point Pulumi runs (`main: infra/`); the program itself is `infra.program.main`."""

import sys
from pathlib import Path

# Pulumi runs this file from infra/; the platform's packages live one level up, and the drift
# engine's, capture proxy's, endpoint verifier's and retraining trigger's shared settings next
# to their handlers, and the serving sidecar's (images/serving_sidecar) next to its code.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (
    str(_ROOT),
    *(
        str(_ROOT / "lambdas" / d)
        for d in ("drift_check", "capture_proxy", "endpoint_verifier", "retrain_trigger")
    ),
    str(_ROOT / "images" / "serving_sidecar"),
):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from infra.program import main

main()
