"""The policy codes of RBAC (KS820–KS839): over-broad and dangling permissions."""

from __future__ import annotations
