"""Entry point Pulumi runs (`main: infra/`); the program itself is `infra.program.main`."""

import sys
from pathlib import Path

# Pulumi runs this file from infra/; the platform's packages live one level up.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from infra.program import main

main()
