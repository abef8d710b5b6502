"""The policy codes of containers (KS700–KS719): resources, probes, images, pull policy."""

from __future__ import annotations
