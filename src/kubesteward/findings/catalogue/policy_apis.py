"""The policy codes of API versions (KS860–KS879): deprecated and removed apiVersions for a target Kubernetes version; policy machinery (KS890–KS899)."""

from __future__ import annotations
