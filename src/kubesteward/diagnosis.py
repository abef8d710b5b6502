"""Library face of ``kubesteward diagnose``: the same engine on a live cluster or on files.

>>> async with ClientFactory() as clients:                       # doctest: +SKIP
...     result = await diagnose_cluster(clients.client("prod"))
...     for incident in result.report.incidents:
...         print(incident.severity.label, incident.title)
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubesteward.checks.base import Finding
from kubesteward.checks.engine import Report, analyzer_modules, run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient
from kubesteward.model.cluster import ClusterModel
from kubesteward.model.files import load_files
from kubesteward.model.load import Progress, load_cluster
from kubesteward.model.selectors import map_selector_matches


@dataclass
class Diagnosis:
    report: Report
    model: ClusterModel


def parse_label_selector(text: str | None) -> dict[str, str]:
    """``app=web,tier=db`` (equality terms) for scoping findings."""
    if not text:
        return {}
    pairs = {}
    for term in text.split(","):
        key, _sep, value = term.partition("=")
        pairs[key.strip()] = value.strip().lstrip("=")
    return pairs


def scope_filter(
    model: ClusterModel, namespace: str | None, label_selector: str | None
) -> Callable[[Finding], bool] | None:
    """Keep findings in ``namespace`` (cluster-scoped ones too) whose object, or
    the top of its owner chain, carries the selector's labels."""
    selector = parse_label_selector(label_selector)
    if not selector and not namespace:
        return None

    def keep(item: Finding) -> bool:
        if namespace and item.object.namespace not in (namespace, ""):
            return False
        if not selector:
            return True
        obj = model.get(*item.object)
        if obj is None:
            return False
        return any(map_selector_matches(selector, o.metadata.labels) for o in (obj, model.root_owner(obj)))

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
    imports = asyncio.ensure_future(_import_between_reads(analyzer_modules()))
    try:
        model = await load_cluster(client, namespace=namespace, progress=progress)
    finally:
        await imports
    keep = scope_filter(model, None, label_selector)
    return Diagnosis(run_checks(model, settings=settings, ignore=ignore, only=only, keep=keep), model)


async def _import_between_reads(modules: list[str]) -> None:
    """Import ``modules`` one per event-loop turn, while the LISTs are in flight.

    A first diagnosis in a process (every CLI run) would otherwise import the
    analyzers (~30 ms) after the load, on the critical path; here they fill
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
    model, _ignored = load_files(paths)
    keep = scope_filter(model, namespace, label_selector)
    return Diagnosis(run_checks(model, settings=settings, ignore=ignore, only=only, keep=keep), model)
