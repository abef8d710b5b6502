"""Policy rules: rbac (codes and prose in ``findings/catalogue/policy_rbac.py``)."""

from __future__ import annotations
