"""A one-screen cluster summary (``kubesteward status``)."""

from __future__ import annotations

from kubesteward.summary.collect import ClusterSummary, NodeLine, summarize

__all__ = ["ClusterSummary", "NodeLine", "summarize"]
