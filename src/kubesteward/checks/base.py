"""The analyzer registry.

An analyzer is a pure function ``(ClusterModel, CheckSettings) -> Iterable[Finding]``,
registered with the codes it may emit and the kinds it needs. The engine
skips an analyzer whose kinds could not be loaded (RBAC) and says so. Codes,
findings and their remediations live in :mod:`kubesteward.findings`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from kubesteward.checks.settings import CheckSettings
from kubesteward.findings.codes import Code
from kubesteward.findings.finding import Finding
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel
from kubesteward.model.semantics import lifecycle

T = TypeVar("T")


Analyzer = Callable[[ClusterModel, CheckSettings], Iterable[Finding]]
# A kind an analyzer needs, or kinds any one of which will do, in order of
# preference (``model.cluster.ENDPOINT_KINDS``: EndpointSlices, else Endpoints).
Requirement = str | tuple[str, ...]


@dataclass(frozen=True)
class Registered:
    name: str
    func: Analyzer
    codes: tuple[str, ...]
    requires: tuple[Requirement, ...]

    def missing(self, loaded: set[str]) -> tuple[str, ...]:
        """The requirements not met by the ``loaded`` kinds, each by its preferred kind."""
        return tuple(
            need if isinstance(need, str) else need[0]
            for need in self.requires
            if not (need in loaded if isinstance(need, str) else any(kind in loaded for kind in need))
        )


ANALYZERS: dict[str, Registered] = {}


def analyzer(*, codes: Iterable[Code], requires: Iterable[Requirement]) -> Callable[[Analyzer], Analyzer]:
    """Register a pure analyzer that may emit ``codes`` and reads the kinds in ``requires``
    (a tuple there: any one of its kinds will do)."""

    def register(func: Analyzer) -> Analyzer:
        name = f"{func.__module__.rsplit('.', 1)[-1]}.{func.__name__}"
        ANALYZERS[name] = Registered(name, func, tuple(c.code for c in codes), tuple(requires))
        return func

    return register


def in_service(model: ClusterModel, objects: Iterable[T]) -> Iterator[T]:
    """Objects not going away (:func:`kubesteward.model.semantics.lifecycle.going_away`): neither
    being deleted nor in a namespace being deleted."""
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for obj in objects:
        meta: o.ObjectMeta = cast(Any, obj).metadata
        if not lifecycle.going_away(meta, leaving):
            yield obj
