"""The policy codes of workloads (KS800–KS819): availability, disruption budgets, autoscalers, Services and Ingresses that point nowhere, identity."""

from __future__ import annotations
