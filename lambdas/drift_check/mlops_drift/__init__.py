"""The platform's drift engine: baselines, window profiles, drift statistics and reports.

Imported by the drift-check Lambda handlers (`lambdas/drift_check/handler.py`), the `mlops`
console script and the Pulumi component that deploys them (`components/drift.py`, which reads
only `mlops_drift.settings`). Keep this module light: no numpy import at package level.
"""
