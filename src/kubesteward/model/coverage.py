"""What a run could read of what it was asked to look at: the rule behind "never a false green".

A run that could not look must not report a healthy cluster. ``ClusterModel.skipped`` records every kind a
LIST was refused for (or served only in some namespaces); this module turns that into the run's coverage,
which every output format shows, and refuses a model that read nothing it was asked about.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesteward.errors import Forbidden
from kubesteward.model.cluster import ClusterModel, Skipped
from kubesteward.model.kinds import BY_KIND, STAND_INS


@dataclass(frozen=True)
class Coverage:
    """What a live run read. ``gaps``: kinds objects of which may exist but could not be read (RBAC),
    wholly or outside the namespaces they were read in. Files and snapshots cover what they hold."""

    namespace: str | None  # the namespace asked for; None: all
    gaps: tuple[Skipped, ...]
    not_served: tuple[str, ...]  # kinds whose API this cluster does not serve (so none exist)

    @property
    def complete(self) -> bool:
        return not self.gaps

    def summary(self) -> str:
        """One line: which kinds were not (fully) read, e.g. ``Secret (forbidden), Pod (only in 'default')``."""
        return ", ".join(_gap_phrase(gap) for gap in self.gaps)

    def document(self) -> dict[str, object]:
        """The ``coverage`` section of the output schema."""
        return {
            "complete": self.complete,
            "namespaces": [self.namespace] if self.namespace else "all",
            "unreadKinds": [
                {"kind": g.kind, "readIn": list(g.namespaces), "reason": g.reason} for g in self.gaps
            ],
            "notServed": list(self.not_served),
        }


def coverage_of(model: ClusterModel) -> Coverage:
    # A kind read in place of a refused one (Endpoints for EndpointSlices) closes that gap.
    covered = {kind for kind, spec in STAND_INS.items() if spec.kind in model.loaded and not _gap(model, spec.kind)}
    gaps = tuple(s for s in model.skipped if s.unread and s.kind not in covered)
    not_served = tuple(sorted({s.kind for s in model.skipped if not s.unread}))
    return Coverage(namespace=model.namespace_scope, gaps=gaps, not_served=not_served)


def require_something_read(model: ClusterModel) -> None:
    """Raise :class:`Forbidden` when the model holds no namespaced kind at all because every LIST of one
    was refused: the identity can read nothing (or nothing in the namespace asked for), and any verdict
    would be about nothing."""
    namespaced = [s for s in model.skipped if s.unread and _namespaced(s.kind)]
    read_any = any(_namespaced(kind) for kind in model.loaded)
    if read_any or not namespaced:
        return
    where = f"namespace {model.namespace_scope!r}" if model.namespace_scope else "any namespace"
    first = namespaced[0].reason.removeprefix("forbidden: ")
    raise Forbidden(
        f"forbidden (403): this identity may read nothing in {where} "
        f"({len(namespaced)} kinds refused; first: {namespaced[0].kind}: {first})",
        context=model.context or None,
        status=403,
    )


def _gap(model: ClusterModel, kind: str) -> bool:
    return any(s.unread and s.kind == kind for s in model.skipped)


def _namespaced(kind: str) -> bool:
    spec = BY_KIND.get(kind)
    return spec is not None and spec.resource.namespaced


def _gap_phrase(gap: Skipped) -> str:
    if gap.namespaces:
        return f"{gap.kind} (only in {', '.join(repr(n) for n in gap.namespaces)})"
    if gap.reason.startswith("forbidden in "):  # refused in some namespaces only (events)
        return f"{gap.kind} ({gap.reason.split(':', 1)[0]})"
    return f"{gap.kind} (forbidden)"
