"""Library face of ``kubesteward diagnose``: the same engine on a live cluster or on files.

>>> async with ClientFactory() as clients:                       # doctest: +SKIP
...     result = await diagnose_cluster(clients.client("prod"))
...     for incident in result.report.incidents:
...         print(incident.severity.label, incident.title)
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesteward.checks.engine import Evaluation, Report, analyzer_modules, evaluate, report, run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient
from kubesteward.findings import Finding
from kubesteward.model.cluster import ClusterModel, ObjectKey, key_of
from kubesteward.model.coverage import require_something_read
from kubesteward.model.files import load_files
from kubesteward.model.kinds import MODEL_KINDS
from kubesteward.model.load import Progress, load_cluster, load_events
from kubesteward.model.objects import LabelSelector
from kubesteward.model.scope import parse_label_selector, require_namespace_exists
from kubesteward.model.semantics.selectors import selector_matches


@dataclass
class Diagnosis:
    report: Report
    model: ClusterModel
    # Files only: objects of kinds the model does not hold, by kind (read, then left out).
    unmodelled: dict[str, int] = field(default_factory=dict)


def scope_filter(
    model: ClusterModel, namespace: str | None, label_selector: LabelSelector | None
) -> Callable[[Finding], bool] | None:
    """Keep findings in ``namespace`` (cluster-scoped ones too) whose object, or
    the top of its owner chain, carries the selector's labels."""
    if label_selector is None and not namespace:
        return None

    def keep(item: Finding) -> bool:
        if namespace and item.object.namespace not in (namespace, ""):
            return False
        if label_selector is None:
            return True
        obj = model.get(*item.object)
        if obj is None:
            return False
        return any(selector_matches(label_selector, o.metadata.labels) for o in (obj, model.root_owner(obj)))

    return keep


async def diagnose_cluster(
    client: KubeClient,
    *,
    namespace: str | None = None,
    settings: CheckSettings | None = None,
    ignore: Iterable[str] = (),
    only: Iterable[str] = (),
    label_selector: str | None = None,
    progress: Progress | None = None,
) -> Diagnosis:
    """Load the cluster (or one namespace), run every analyzer, group the findings into incidents.

    Events are listed only where the analyzers ask for them
    (:func:`evaluate_with_events`), so ``Diagnosis.model`` holds the events
    of those namespaces only.
    """
    selector = parse_label_selector(label_selector)
    imports = asyncio.ensure_future(_import_between_reads(analyzer_modules()))
    try:
        model = await load_cluster(client, namespace=namespace, progress=progress, kinds=KINDS_BUT_EVENTS)
    finally:
        await imports
    require_something_read(model)
    if namespace is not None:
        await require_namespace(client, model, namespace)
    keep = scope_filter(model, None, selector)

    async def list_events(where: set[str]) -> None:
        await load_events(client, model, where)

    result = await evaluate_with_events(
        model, list_events, namespace=namespace, settings=settings, ignore=ignore, only=only, keep=keep
    )
    return Diagnosis(report(model, result), model)


async def evaluate_with_events(
    model: ClusterModel,
    list_events: Callable[[set[str]], Awaitable[None]],
    *,
    namespace: str | None = None,
    settings: CheckSettings | None = None,
    ignore: Iterable[str] = (),
    only: Iterable[str] = (),
    keep: Callable[[Finding], bool] | None = None,
) -> Evaluation:
    """Evaluate a model loaded without Events, listing (``list_events``) only the events the analyzers ask for.

    Events are evidence: an analyzer reads the events of the object it
    reports on, or of one that object owns (a Deployment, its ReplicaSet's),
    and a few decide with them (a StatefulSet whose pods the API server
    refused). So the model is evaluated first without them, recording whose
    events were asked for; then the events of those namespaces are listed
    (cluster-scoped objects' events live in ``default``, where Kubernetes'
    event recorders put them) and those objects and their owners are
    evaluated again. The API server
    keeps no cache of Events: each Event LIST reads every event of its scope
    from etcd, though a cluster's problems usually sit in a few namespaces.
    ``namespace``: the one namespace loaded, whose events alone are read.
    """
    options: dict[str, Any] = {"settings": settings, "ignore": ignore, "only": only, "keep": keep}
    model.events_asked = set()
    try:
        result = evaluate(model, **options)
        asked = model.events_asked
    finally:
        model.events_asked = None
    where = {ns or DEFAULT_NAMESPACE for _kind, ns, _name in asked}
    if namespace is not None:
        where &= {namespace}
    if not where:
        return result
    await list_events(where)
    subjects = _askers(model, asked)
    again = evaluate(model.scoped(subjects), **options)
    return result.replaced({key_of(obj) for objects in subjects.values() for obj in objects}, again)


async def require_namespace(client: KubeClient, model: ClusterModel, namespace: str) -> None:
    """:class:`UsageError` when the namespace asked for does not exist: its LISTs answer empty, which
    would read as a healthy namespace. Told by the model's namespace list, or by one GET when that list
    was refused (a refused GET cannot tell, and the run's coverage already says what it missed)."""
    listed = "Namespace" in model.loaded and "Namespace" not in model.partial
    await require_namespace_exists(client, namespace, [ns.metadata.name for ns in model.namespaces] if listed else None)


KINDS_BUT_EVENTS = tuple(spec.kind for spec in MODEL_KINDS if spec.kind != "Event")
DEFAULT_NAMESPACE = "default"  # where Kubernetes' event recorders put the events of cluster-scoped objects


def _askers(model: ClusterModel, asked: set[tuple[str, str, str]]) -> dict[str, list[Any]]:
    """The objects whose events were asked for and their owners up the chain, by kind: what an
    evaluation with events may say differently about. An analyzer reads the events of the object
    it reports on or of one that object owns (a Deployment, its ReplicaSet's); an evaluation that
    read no events cannot change when events are added."""
    found: dict[ObjectKey, Any] = {}
    for key in asked:
        obj = model.get(*key)
        while obj is not None and key_of(obj) not in found:
            found[key_of(obj)] = obj
            obj = model.owner(obj)
    by_kind: dict[str, list[Any]] = {}
    for key, obj in found.items():
        by_kind.setdefault(key.kind, []).append(obj)
    return by_kind


async def _import_between_reads(modules: list[str]) -> None:
    """Import ``modules`` one per event-loop turn, while the LISTs are in flight.

    A first diagnosis in a process (every CLI run) would otherwise import the
    analyzers after the load, on the critical path; here they fill
    the waits for the API server, and each import holds the loop for a few
    milliseconds at most.
    """
    for name in modules:
        await asyncio.sleep(0)
        importlib.import_module(name)


def diagnose_files(
    paths: Sequence[Path],
    *,
    settings: CheckSettings | None = None,
    ignore: Iterable[str] = (),
    only: Iterable[str] = (),
    label_selector: str | None = None,
    namespace: str | None = None,
) -> Diagnosis:
    selector = parse_label_selector(label_selector)
    model, unmodelled = load_files(paths)
    keep = scope_filter(model, namespace, selector)
    return Diagnosis(run_checks(model, settings=settings, ignore=ignore, only=only, keep=keep), model, unmodelled)
