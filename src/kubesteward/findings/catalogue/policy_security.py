"""The policy codes of security (KS720–KS769): the Pod Security Standards' controls and the rest of a pod's hardening."""

from __future__ import annotations
