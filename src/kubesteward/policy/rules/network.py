"""Policy rules: network (codes and prose in ``findings/catalogue/policy_network.py``)."""

from __future__ import annotations
