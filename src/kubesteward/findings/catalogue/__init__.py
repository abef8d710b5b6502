"""Every finding code: its title, severity, rank, explanation and remediation steps, by area.

Importing this package defines them all in :data:`kubesteward.findings.codes.CODES`; the
analyzers import their codes from here, ``explain`` and the output formats read them.
"""

from __future__ import annotations

from kubesteward.findings.catalogue import (
    autoscaling,
    kubesteward,
    networking,
    nodes,
    pods,
    policy_apis,
    policy_containers,
    policy_network,
    policy_rbac,
    policy_security,
    policy_workloads,
    storage,
    workloads,
)
from kubesteward.findings.codes import CODES

AREAS = (
    pods, workloads, networking, storage, nodes, autoscaling, kubesteward,
    policy_containers, policy_security, policy_workloads, policy_rbac, policy_network, policy_apis,
)

__all__ = ["AREAS", "CODES"]
