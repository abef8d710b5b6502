"""The series cap: at most N series per family per context.

A cluster with 5,000 Deployments must not turn into 5,000 series of every
family on each scrape of every watched context. Beyond the cap, the least
significant series are folded into one whose label values are all
``_other``; the fold keeps the family's total meaningful (a sum for counts,
the worst value for lags, the pooled ratio for availability).

``_other`` cannot collide with a real label value: Kubernetes names and
namespaces are DNS names (no underscore), and codes, severities and kinds
never start with one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

DEFAULT_SERIES_CAP = 2000
OTHER = "_other"

Labels = tuple[str, ...]
T = TypeVar("T")


def cap_series(
    series: Mapping[Labels, T],
    cap: int,
    *,
    weight: Callable[[T], float],
    merge: Callable[[Sequence[T]], T],
) -> list[tuple[Labels, T]]:
    """At most ``cap`` series, sorted by labels; the rest folded into one ``_other`` series.

    ``weight`` says how significant a series is (the highest are kept); ties
    are broken by labels so the same series fold on every scrape, which keeps
    ``_other`` from flapping between identities.
    """
    if cap < 1:
        raise ValueError(f"series cap must be at least 1 (got {cap})")
    if len(series) <= cap:
        return sorted(series.items(), key=lambda item: item[0])
    ranked = sorted(series.items(), key=lambda item: (-weight(item[1]), item[0]))
    kept, folded = ranked[: cap - 1], ranked[cap - 1 :]
    width = len(folded[0][0])
    other = ((OTHER,) * width, merge([value for _, value in folded]))
    return sorted(kept, key=lambda item: item[0]) + [other]


def total(values: Sequence[float]) -> float:
    return float(sum(values))


def worst(values: Sequence[float]) -> float:
    return max(values)
