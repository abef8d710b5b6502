"""Analyzers: pure functions from the cluster model to findings with stable codes."""
