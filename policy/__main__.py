"""Entry point the Pulumi CLI runs for `--policy-pack policy`; the policies are importable
from `mlops_policies` so the offline plan evaluates the very same ones."""

import sys
from pathlib import Path

# The CLI runs this file with policy/ as the working directory; make the package importable
# however it is started.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from mlops_policies import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=list(POLICIES))
