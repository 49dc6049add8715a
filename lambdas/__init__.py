"""Python Lambda handlers deployed by the platform's components (one sub-package per handler)."""
