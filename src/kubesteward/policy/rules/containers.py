"""Policy rules: containers (codes and prose in ``findings/catalogue/policy_containers.py``)."""

from __future__ import annotations
