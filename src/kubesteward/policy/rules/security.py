"""Policy rules: security (codes and prose in ``findings/catalogue/policy_security.py``)."""

from __future__ import annotations
