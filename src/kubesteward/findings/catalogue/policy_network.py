"""The policy codes of NetworkPolicy (KS840–KS859): pods no policy selects, policies selecting nothing."""

from __future__ import annotations
