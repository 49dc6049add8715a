"""The Pulumi program (`main: infra/` in Pulumi.yaml)."""
