"""The rule catalogue's code, one module per family (prose lives in ``findings/catalogue/policy_*``).

Importing this package registers every rule in :data:`kubesteward.policy.registry.RULES`.
"""

from __future__ import annotations

from kubesteward.policy.rules import apis, containers, machinery, network, rbac, security, workloads

__all__ = ["apis", "containers", "machinery", "network", "rbac", "security", "workloads"]
