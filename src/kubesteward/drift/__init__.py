"""Drift: namespaces, clusters, and manifests compared with live objects, through one normalisation."""
