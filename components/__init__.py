"""Reusable Pulumi components of the MLOps platform (see README.md for the architecture)."""
