"""The Prometheus exporter of ``kubesteward watch``: /metrics, /healthz, /readyz.

The engine implements :class:`MetricsSource`; :func:`serve_metrics` serves it.
"""

from kubesteward.metrics.cardinality import DEFAULT_SERIES_CAP, OTHER
from kubesteward.metrics.collector import KubestewardCollector
from kubesteward.metrics.exporter import ClusterView, MetricsSource
from kubesteward.metrics.server import DEFAULT_METRICS_ADDR, MetricsServer, parse_addr, serve_metrics

__all__ = [
    "DEFAULT_METRICS_ADDR",
    "DEFAULT_SERIES_CAP",
    "OTHER",
    "ClusterView",
    "KubestewardCollector",
    "MetricsServer",
    "MetricsSource",
    "parse_addr",
    "serve_metrics",
]
