"""Policy rules: workloads (codes and prose in ``findings/catalogue/policy_workloads.py``)."""

from __future__ import annotations
