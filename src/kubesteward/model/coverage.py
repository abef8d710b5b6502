"""What a run could read of what it was asked to look at: the rule behind "never a false green".

A run that could not look must not report a healthy cluster. ``ClusterModel.skipped`` records every kind a
LIST was refused for (or served only in some namespaces); this module turns that into the run's coverage,
which every output format shows, and refuses a model that read nothing it was asked about.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from kubesteward.cluster import resources
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
    return coverage_from(model.skipped, model.loaded, model.namespace_scope)


def coverage_from(skipped: Sequence[Skipped], loaded: Collection[str], namespace: str | None) -> Coverage:
    """The coverage of any load that records what it listed (kind names) and what it skipped: the slim
    model's, or full objects' (:class:`~kubesteward.model.full.FullObjects`)."""
    # A kind read in place of a refused one (Endpoints for EndpointSlices) closes that gap.
    covered = {kind for kind, spec in STAND_INS.items() if spec.kind in loaded and not _gap(skipped, spec.kind)}
    gaps = tuple(s for s in skipped if s.unread and s.kind not in covered)
    not_served = tuple(sorted({s.kind for s in skipped if not s.unread}))
    return Coverage(namespace=namespace, gaps=gaps, not_served=not_served)


def require_something_read(model: ClusterModel) -> None:
    """Raise :class:`Forbidden` when the model holds no namespaced kind at all because every LIST of one
    was refused: the identity can read nothing (or nothing in the namespace asked for), and any verdict
    would be about nothing."""
    require_read(model.skipped, model.loaded, model.namespace_scope, model.context)


def require_read(skipped: Sequence[Skipped], loaded: Collection[str], namespace: str | None, context: str) -> None:
    """:func:`require_something_read` for any load (kind names listed, kinds skipped)."""
    namespaced = [s for s in skipped if s.unread and _namespaced(s.kind)]
    read_any = any(_namespaced(kind) for kind in loaded)
    if read_any or not namespaced:
        return
    where = f"namespace {namespace!r}" if namespace else "any namespace"
    first = namespaced[0].reason.removeprefix("forbidden: ")
    raise Forbidden(
        f"forbidden (403): this identity may read nothing in {where} "
        f"({len(namespaced)} kinds refused; first: {namespaced[0].kind}: {first})",
        context=context or None,
        status=403,
    )


def _gap(skipped: Sequence[Skipped], kind: str) -> bool:
    return any(s.unread and s.kind == kind for s in skipped)


def _namespaced(kind: str) -> bool:
    # The model's kinds, then any other built-in (full objects list RBAC kinds, PDBs...)
    spec = BY_KIND.get(kind)
    if spec is not None:
        return spec.resource.namespaced
    rt = resources.by_name(kind)
    return rt is not None and rt.kind == kind and rt.namespaced


def _gap_phrase(gap: Skipped) -> str:
    if gap.namespaces:
        return f"{gap.kind} (only in {', '.join(repr(n) for n in gap.namespaces)})"
    if gap.reason.startswith("forbidden in "):  # refused in some namespaces only (events)
        return f"{gap.kind} ({gap.reason.split(':', 1)[0]})"
    return f"{gap.kind} (forbidden)"
