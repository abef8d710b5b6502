"""What a run is asked to look at, checked before it is believed: a label selector as typed on the
command line, a namespace that must exist (its LISTs would answer empty, which reads as healthy)."""

from __future__ import annotations

from collections.abc import Iterable

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import Forbidden, NotFound, UsageError
from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.selectors import parse_selector


def parse_label_selector(text: str | None) -> LabelSelector | None:
    """``-l``'s selector (kubectl's string form), or None when there is none; :class:`UsageError` when it
    is not a valid selector, before anything is read."""
    if text is None or not text.strip():
        return None
    try:
        return parse_selector(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


async def require_namespace_exists(client: KubeClient, namespace: str, listed: Iterable[str] | None) -> None:
    """:class:`UsageError` when the namespace asked for does not exist: its LISTs answer empty, which
    would read as a healthy namespace. Told by the namespaces ``listed`` (every one), or by one GET when
    they could not be listed (None; a refused GET cannot tell, and the run's coverage says what it missed)."""
    if listed is not None:
        exists = namespace in set(listed)
    else:
        try:
            await client.get(resources.NAMESPACE, namespace)
            exists = True
        except NotFound:
            exists = False
        except Forbidden:
            return
    if not exists:
        raise UsageError(f"namespace {namespace!r} does not exist", context=client.context)
