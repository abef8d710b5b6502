"""Policy rules: apis (codes and prose in ``findings/catalogue/policy_apis.py``)."""

from __future__ import annotations
