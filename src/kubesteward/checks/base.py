"""Findings, stable codes and the analyzer registry.

An analyzer is a pure function ``(ClusterModel, CheckSettings) -> Iterable[Finding]``,
registered with the codes it may emit and the kinds it needs. The engine
skips an analyzer whose kinds could not be loaded (RBAC) and says so.

Codes are stable forever: ``KS`` + three digits, grouped by area
(1xx pods, 2xx workloads, 3xx networking, 4xx storage, 5xx nodes,
6xx autoscaling and disruption). A retired code is never reused.
"""

from __future__ import annotations

import enum
import functools
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from kubesteward.checks.settings import CheckSettings
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, ObjectKey

T = TypeVar("T")


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        return cls[value.upper()]


@dataclass(frozen=True)
class Code:
    """Catalogue entry for one finding code (what ``kubesteward explain`` prints)."""

    code: str
    title: str
    area: str
    severity: Severity
    explanation: str
    remediation: str
    # Lower rank = closer to a root cause. Used to pick an incident's headline:
    # a NotReady node (10) explains a crashing pod (40) explains an empty Service (60).
    rank: int = 50


@dataclass
class Finding:
    code: str
    severity: Severity
    object: ObjectKey
    message: str
    remediation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # The object this finding is a symptom of, when the analyzer can tell
    # from the model (a pod's NotReady node, a pending pod's PVC).
    cause: ObjectKey | None = None
    # Everything else this finding is about (used for grouping and blast radius).
    related: list[ObjectKey] = field(default_factory=list)


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


CODES: dict[str, Code] = {}
ANALYZERS: dict[str, Registered] = {}


def define(
    code: str,
    title: str,
    *,
    area: str,
    severity: Severity,
    explanation: str,
    remediation: str,
    rank: int = 50,
) -> Code:
    """Add a code to the catalogue. Codes are unique; defining one twice is a bug."""
    if code in CODES:
        raise ValueError(f"finding code {code} defined twice")
    entry = Code(code, title, area, severity, explanation.strip(), remediation.strip(), rank)
    CODES[code] = entry
    return entry


def analyzer(*, codes: Iterable[Code], requires: Iterable[Requirement]) -> Callable[[Analyzer], Analyzer]:
    """Register a pure analyzer that may emit ``codes`` and reads the kinds in ``requires``
    (a tuple there: any one of its kinds will do)."""

    def register(func: Analyzer) -> Analyzer:
        name = f"{func.__module__.rsplit('.', 1)[-1]}.{func.__name__}"
        ANALYZERS[name] = Registered(name, func, tuple(c.code for c in codes), tuple(requires))
        return func

    return register


def finding(
    code: Code,
    obj: ObjectKey,
    message: str,
    *,
    evidence: dict[str, Any] | None = None,
    severity: Severity | None = None,
    remediation: str | None = None,
    fill: Mapping[str, str] | None = None,
    cause: ObjectKey | None = None,
    related: Iterable[ObjectKey] = (),
) -> Finding:
    """Build a finding from a catalogue code (its severity and remediation unless overridden).

    The remediation names what the finding knows (:func:`personalise`): its object, the
    names its evidence holds, and ``fill`` (placeholder -> value) for anything else.
    """
    kept = {k: v for k, v in (evidence or {}).items() if v not in (None, "", [], {})}
    return Finding(
        code=code.code,
        severity=severity or code.severity,
        object=obj,
        message=message,
        remediation=personalise(remediation or code.remediation, obj, kept, fill),
        evidence=kept,
        cause=cause,
        related=list(related),
    )


_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9_+-]*)>")

# Evidence keys that hold one name and fill the placeholder of the same name in every code's
# remediation (an Ingress finding's backend ``service``, a pod finding's ``container``).
NAMES_IN_EVIDENCE = ("container", "image", "node", "replica_set", "secret", "selector", "service")


def personalise(text: str, obj: ObjectKey, evidence: Mapping[str, Any], fill: Mapping[str, str] | None = None) -> str:
    """``text`` with the ``<placeholders>`` whose values a finding knows filled in: ``fill`` first,
    then ``<name>``, ``<ns>``/``<namespace>`` and ``<kind>`` (``<pod>``, ``<service>``…) of its
    object, then the names of :data:`NAMES_IN_EVIDENCE`. Values are shell-quoted where needed (a
    selector with a set expression), as they land in commands. What no finding can know (which
    class to make the default) stays a placeholder for the reader to choose."""
    names = _placeholders(text)
    if not names:
        return text
    kind = obj.kind.lower()
    for name in names:
        value = fill.get(name) if fill else None
        if value is None:
            if name == "name" or name == kind:
                value = obj.name
            elif name in ("ns", "namespace"):
                value = obj.namespace or None
            elif name in NAMES_IN_EVIDENCE and isinstance(evidence.get(name), str | int):
                value = str(evidence[name])
        if value is not None:
            text = text.replace(f"<{name}>", shlex.quote(value))
    return text


@functools.lru_cache(maxsize=1024)
def _placeholders(text: str) -> tuple[str, ...]:
    """The placeholders of a remediation, once per text (most findings of a run share a few texts)."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))


def in_service(model: ClusterModel, objects: Iterable[T]) -> Iterator[T]:
    """Objects not on their way out: neither being deleted nor in a Terminating namespace
    (whose pods vanish first, which would make every workload, budget, Service and Ingress in it
    look broken: a namespace deletion must not be an alert storm)."""
    for obj in objects:
        meta: o.ObjectMeta = cast(Any, obj).metadata
        if meta.deletionTimestamp:
            continue
        ns = model.get("Namespace", "", meta.namespace) if meta.namespace else None
        if ns is not None and (ns.status.phase == "Terminating" or ns.metadata.deletionTimestamp):
            continue
        yield obj
