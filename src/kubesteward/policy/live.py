"""``audit``'s library face: the policy rules over a live cluster, with what the run could read.

>>> async with ClientFactory() as clients:                       # doctest: +SKIP
...     audit = await audit_cluster(clients.client("prod"), parse_policy_config(None, "defaults"))
...     for namespace, score in audit.ranking:
...         print(namespace, score.percent)

One paged LIST per kind, each kind asked once: the kinds the active rules read, every built-in kind
that makes pods, and every custom resource whose CRD gives its objects a pod template (an Argo
Rollout, an operator's workload), found from the CRDs' schemas. Objects are the same full objects
``lint`` reads from files, so the same rules judge them. What could not be listed (RBAC) is the
run's :class:`~kubesteward.model.coverage.Coverage`; an identity that can read nothing is refused
(:class:`~kubesteward.errors.Forbidden`), never reported as a clean cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.errors import UsageError
from kubesteward.model.cluster import ObjectKey, Skipped
from kubesteward.model.coverage import Coverage, coverage_from, require_read
from kubesteward.model.full import FullObjects, load_full
from kubesteward.model.objects import LabelSelector
from kubesteward.model.scope import parse_label_selector, require_namespace_exists
from kubesteward.model.semantics.pod_templates import KNOWN_PATHS, may_make_pods, schema_has_pod_template
from kubesteward.model.semantics.selectors import selector_matches
from kubesteward.policy.config import PolicyConfig
from kubesteward.policy.context import PolicyContext
from kubesteward.policy.engine import PolicyResult, Score, evaluate, load_rules, worst_first

CRD = resources.by_name("CustomResourceDefinition")
# Built-in kinds that make pods (a PodTemplate object makes none).
POD_OWNER_KINDS: tuple[str, ...] = tuple(kind for kind in KNOWN_PATHS if kind != "PodTemplate")


@dataclass(frozen=True)
class AuditResult:
    """One cluster's audit: the judgement, what it covered, and what was listed."""

    context: str
    result: PolicyResult
    coverage: Coverage
    kinds: tuple[str, ...]  # the kinds listed, as ``group/Kind`` (core kinds bare)
    objects_read: int

    @property
    def ranking(self) -> list[tuple[str, Score]]:
        """Namespaces by score, worst first ("" holds cluster-scoped objects)."""
        return worst_first(self.result.scores)


async def audit_cluster(
    client: KubeClient,
    config: PolicyConfig | None = None,
    namespace: str | None = None,
    label_selector: str | None = None,
) -> AuditResult:
    """Judge the cluster (or ``namespace``; objects carrying ``label_selector``) by ``config``'s rules.

    With a namespace, the objects judged are that namespace's (cluster-scoped ones, such as the
    ClusterRoles its RoleBindings name, are read but not judged), even one of the exempt namespaces,
    since it was asked for by name. Pods a controller owns are judged on their controller's template.
    """
    config = config or PolicyConfig()
    selector = parse_label_selector(label_selector)
    store = FullObjects()
    crd_kinds = await _pod_template_kinds(client, store.skipped)
    kinds = _dedupe([*_rule_kinds(config), *POD_OWNER_KINDS, "Namespace"], crd_kinds)
    await load_full(client, kinds, namespace=namespace, into=store, fall_back=True)
    loaded = {group_kind.kind for group_kind in store.loaded}
    require_read(store.skipped, loaded, namespace, client.context)
    if namespace is not None:
        listed = "Namespace" in loaded and not any(s.kind == "Namespace" for s in store.skipped)
        await require_namespace_exists(client, namespace, _names(store, "Namespace") if listed else None)
    coverage = coverage_from(store.skipped, loaded, namespace)
    scoped = _scoped(config, namespace, selector)
    # Rules take a live set for the whole cluster and conclude from what it lacks (a binding's missing
    # ServiceAccount, a peer selecting no pod); one namespace, or what RBAC let through, is not the
    # whole cluster, so it is judged as files are: absence elsewhere proves nothing.
    whole = namespace is None and coverage.complete
    result = evaluate(PolicyContext.of(store, scoped.settings, live=whole), scoped)
    return AuditResult(
        context=client.context,
        result=result,
        coverage=coverage,
        kinds=tuple(sorted(f"{rt.group}/{rt.kind}" if rt.group else rt.kind for rt in kinds)),
        objects_read=len(store),
    )


def _rule_kinds(config: PolicyConfig) -> list[str]:
    """The kinds the active object and set rules read (pod rules read what makes pods)."""
    return [kind for rule in load_rules().values() if config.active(rule) for kind in rule.kinds]


def _dedupe(names: Iterable[str], custom: Iterable[ResourceType]) -> list[ResourceType]:
    """Each kind once, however it is named: a rule's kind that is not a built-in cannot be listed by
    name (a bug the unit tests catch), so it is refused rather than left out in silence."""
    chosen: dict[tuple[str, str], ResourceType] = {}
    for name in names:
        rt = resources.by_name(name)
        if rt is None or rt.kind != name:
            raise UsageError(f"policy rules read kind {name!r}, which audit cannot list by name")
        chosen.setdefault((rt.group, rt.kind), rt)
    for rt in custom:
        chosen.setdefault((rt.group, rt.kind), rt)
    return list(chosen.values())


async def _pod_template_kinds(client: KubeClient, skipped: list[Skipped]) -> list[ResourceType]:
    """The custom kinds whose objects make pods, one served version each (the stored one if it has
    the template). CRDs that may not be listed leave such workloads unseen: a gap in ``skipped``."""
    assert CRD is not None
    crds = await load_full(client, [CRD])
    skipped.extend(crds.skipped)
    found: list[ResourceType] = []
    for obj in crds.of_kind("CustomResourceDefinition"):
        rt = _pod_maker(obj.manifest())
        if rt is not None:
            found.append(rt)
    return found


def _pod_maker(crd: Mapping[str, Any]) -> ResourceType | None:
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        return None
    names = spec.get("names")
    names = names if isinstance(names, Mapping) else {}
    if not may_make_pods(str(names.get("kind") or "")):
        return None
    versions = [v for v in spec.get("versions") or [] if isinstance(v, Mapping) and v.get("served")]
    for version in sorted(versions, key=lambda v: not v.get("storage")):
        schema = version.get("schema")
        if isinstance(schema, Mapping) and schema_has_pod_template(schema.get("openAPIV3Schema")):
            return ResourceType(
                group=str(spec.get("group") or ""), version=str(version.get("name") or ""),
                kind=str(names.get("kind") or ""), plural=str(names.get("plural") or ""),
                namespaced=spec.get("scope") == "Namespaced",
            )
    return None


def _names(store: FullObjects, kind: str) -> list[str]:
    return [obj.name for obj in store.of_kind(kind)]


@dataclass(frozen=True)
class _ScopedConfig(PolicyConfig):
    """The configuration, judging only objects in the namespace asked for that carry the selector."""

    namespace: str | None = None
    selector: LabelSelector | None = None

    def judged(self, key: ObjectKey, labels: Mapping[str, str], code: str) -> bool:
        if self.namespace is not None and key.namespace != self.namespace:
            return False
        if self.selector is not None and not selector_matches(self.selector, labels):
            return False
        return super().judged(key, labels, code)


def _scoped(config: PolicyConfig, namespace: str | None, selector: LabelSelector | None) -> PolicyConfig:
    if namespace is None and selector is None:
        return config
    settings = config.settings
    if namespace is not None and namespace in settings.exempt_namespaces:
        settings = replace(settings, exempt_namespaces=tuple(n for n in settings.exempt_namespaces if n != namespace))
    values = {f.name: getattr(config, f.name) for f in fields(PolicyConfig)}
    return _ScopedConfig(**{**values, "settings": settings}, namespace=namespace, selector=selector)
