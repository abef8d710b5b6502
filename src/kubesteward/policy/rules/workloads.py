"""Policy rules on workloads (codes and prose in ``findings/catalogue/policy_workloads.py``): replicas and
their spread, disruption budgets, autoscalers, Services and Ingresses that point nowhere, and the set's
own hygiene (namespaces, duplicates, bare pods).

Kubernetes' answers come from :mod:`kubesteward.model.semantics` (replicas and autoscalers, budgets,
selectors, Ingress backends, pod templates of every kind: CRD workloads such as Argo Rollouts are pod
owners like any Deployment).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import msgspec

from kubesteward.cluster.resources import by_name
from kubesteward.findings.catalogue.policy_workloads import (
    KS800,
    KS801,
    KS802,
    KS803,
    KS804,
    KS805,
    KS806,
    KS807,
    KS808,
    KS809,
    KS810,
    KS811,
    KS812,
    KS813,
    KS814,
    KS815,
)
from kubesteward.model import objects as o
from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.autoscaling import declared_replicas, group_of, scales, utilization_resources
from kubesteward.model.semantics.disruption import (
    budget_selector,
    desired_healthy,
    forbids_every_eviction,
)
from kubesteward.model.semantics.ingress import backend_uses, port_label, service_has_port
from kubesteward.model.semantics.pod_templates import PodTemplate, controlled, pod_template_of
from kubesteward.model.semantics.selectors import format_selector, selector_from, selector_matches
from kubesteward.policy.context import PolicyContext, meta
from kubesteward.policy.registry import Manifest, Violation, object_rule, set_rule
from kubesteward.policy.rules.selection import map_selected, selected

T = TypeVar("T")


def _decode(obj: Manifest, type_: type[T]) -> T | None:
    """``obj`` as a slim struct; None when malformed (the API server would have refused it)."""
    try:
        return msgspec.convert(obj, type_, strict=False)
    except msgspec.ValidationError:
        return None


def _namespace(obj: Manifest) -> str:
    return str(meta(obj).get("namespace") or "")


def _name(obj: Manifest) -> str:
    return str(meta(obj).get("name") or "")


def _ref(obj: Manifest) -> str:
    return f"{obj.get('kind', '')}/{_name(obj)}"


def _hpas(ctx: PolicyContext) -> list[tuple[Manifest, o.HorizontalPodAutoscaler]]:
    """The set's well-formed autoscalers, decoded once."""

    def build() -> list[tuple[Manifest, o.HorizontalPodAutoscaler]]:
        found = ((raw, _decode(raw, o.HorizontalPodAutoscaler)) for raw in ctx.of_kind("HorizontalPodAutoscaler"))
        return [(raw, hpa) for raw, hpa in found if hpa is not None]

    return ctx.memo("workloads.hpas", build)


def _autoscaler(ctx: PolicyContext, obj: Manifest) -> o.HorizontalPodAutoscaler | None:
    def build() -> dict[tuple[str, str, str], list[o.HorizontalPodAutoscaler]]:
        index: dict[tuple[str, str, str], list[o.HorizontalPodAutoscaler]] = {}
        for _, hpa in _hpas(ctx):
            ref = hpa.spec.scaleTargetRef
            index.setdefault((hpa.metadata.namespace, ref.kind, ref.name), []).append(hpa)
        return index

    candidates = ctx.memo("workloads.hpa_targets", build).get((_namespace(obj), str(obj.get("kind", "")), _name(obj)), ())
    return next((h for h in candidates if scales(h, obj)), None)


def _replica_range(ctx: PolicyContext, obj: Manifest) -> tuple[int, int] | None:
    """The fewest and most replicas ``obj`` runs: its autoscaler's bounds, else its own count."""
    hpa = _autoscaler(ctx, obj)
    if hpa is not None:
        return hpa.spec.minReplicas or 1, hpa.spec.maxReplicas
    replicas = declared_replicas(obj)
    return None if replicas is None else (replicas, replicas)


def _owners(ctx: PolicyContext) -> Iterator[PodTemplate]:
    """Each workload's pod template once (never the ReplicaSets and pods its controller made)."""
    return iter(ctx.judged_templates)


# --------------------------------------------------------------------------- replicas and spread


@set_rule(KS800, kinds=("HorizontalPodAutoscaler",))
def too_few_replicas(ctx: PolicyContext) -> Iterator[Violation]:
    wanted = ctx.settings.min_replicas
    for template in _owners(ctx):
        owner = template.owner
        hpa = _autoscaler(ctx, owner)
        if hpa is not None:
            fewest = hpa.spec.minReplicas or 1
            if fewest < wanted:
                yield Violation(
                    f"its HorizontalPodAutoscaler {hpa.metadata.name} may scale it down to {fewest} "
                    f"replica(s); production needs at least {wanted}",
                    (), {"min_replicas": fewest, "required": wanted, "autoscaler": hpa.metadata.name}, subject=owner,
                )
            continue
        replicas = declared_replicas(owner)
        if replicas is not None and 0 < replicas < wanted:
            yield Violation(
                f"runs {replicas} replica(s); production needs at least {wanted}",
                ("spec", "replicas"), {"replicas": replicas, "required": wanted}, subject=owner,
            )


def _spreads_own_pods(term: Any, template: PodTemplate) -> bool:
    """Whether an anti-affinity term or spread constraint selects the template's own pods."""
    if not isinstance(term, Mapping) or not term.get("topologyKey"):
        return False
    namespaces = term.get("namespaces")
    own = _namespace(template.owner)
    if isinstance(namespaces, list) and namespaces and own not in namespaces:
        return False
    return selector_matches(selector_from(term.get("labelSelector")), template.labels)


def _spread(template: PodTemplate) -> bool:
    spec = template.spec
    constraints = spec.get("topologySpreadConstraints")
    if isinstance(constraints, list) and any(_spreads_own_pods(c, template) for c in constraints):
        return True
    affinity = spec.get("affinity")
    anti = affinity.get("podAntiAffinity") if isinstance(affinity, Mapping) else None
    if not isinstance(anti, Mapping):
        return False
    required = anti.get("requiredDuringSchedulingIgnoredDuringExecution")
    preferred = anti.get("preferredDuringSchedulingIgnoredDuringExecution")
    terms = list(required) if isinstance(required, list) else []
    if isinstance(preferred, list):
        terms += [p.get("podAffinityTerm") for p in preferred if isinstance(p, Mapping)]
    return any(_spreads_own_pods(term, template) for term in terms)


@set_rule(KS801, kinds=("HorizontalPodAutoscaler",))
def replicas_not_spread(ctx: PolicyContext) -> Iterator[Violation]:
    for template in _owners(ctx):
        bounds = _replica_range(ctx, template.owner)
        if bounds is None or bounds[1] < 2 or _spread(template):
            continue
        yield Violation(
            f"runs up to {bounds[1]} replicas with no pod anti-affinity or topology spread constraint selecting its "
            "own pods: they may all land on one node",
            template.field("affinity"), {"max_replicas": bounds[1]}, subject=template.owner,
        )


# --------------------------------------------------------------------------- disruption budgets


def _budgets(ctx: PolicyContext) -> dict[str, list[tuple[Manifest, LabelSelector | None]]]:
    """The set's budgets with the selector each applies, read once, by namespace."""

    def build() -> dict[str, list[tuple[Manifest, LabelSelector | None]]]:
        index: dict[str, list[tuple[Manifest, LabelSelector | None]]] = {}
        for pdb in ctx.of_kind("PodDisruptionBudget"):
            index.setdefault(_namespace(pdb), []).append((pdb, budget_selector(pdb)))
        return index

    return ctx.memo("workloads.budgets", build)


def _budgets_of(ctx: PolicyContext, template: PodTemplate) -> list[Manifest]:
    """The budgets selecting the template's pods."""

    def build() -> dict[int, list[Manifest]]:
        index: dict[int, list[Manifest]] = {}
        for ns, budgets in _budgets(ctx).items():
            for pdb, selector in budgets:
                for chosen in selected(ctx, ns, selector):
                    index.setdefault(id(chosen), []).append(pdb)
        return index

    return ctx.memo("workloads.budgets_of", build).get(id(template), [])


@set_rule(KS802, kinds=("PodDisruptionBudget", "HorizontalPodAutoscaler"))
def replicated_without_budget(ctx: PolicyContext) -> Iterator[Violation]:
    for template in _owners(ctx):
        bounds = _replica_range(ctx, template.owner)
        if bounds is None or bounds[1] < 2 or _budgets_of(ctx, template):
            continue
        yield Violation(
            f"runs up to {bounds[1]} replicas and no PodDisruptionBudget selects its pods: a drain may evict them all at once",
            template.metadata_path, {"max_replicas": bounds[1], "labels": dict(template.labels)},
            subject=template.owner,
        )


@set_rule(KS815, kinds=("PodDisruptionBudget",))
def several_budgets(ctx: PolicyContext) -> Iterator[Violation]:
    for template in _owners(ctx):
        budgets = sorted(_name(b) for b in _budgets_of(ctx, template))
        if len(budgets) > 1:
            yield Violation(
                f"its pods are selected by {len(budgets)} PodDisruptionBudgets ({', '.join(budgets)}): "
                "the eviction API refuses to evict them",
                template.metadata_path, {"budgets": budgets}, subject=template.owner,
            )


@object_rule(KS803, kinds=("PodDisruptionBudget",))
def budget_forbids_evictions(pdb: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    reason = forbids_every_eviction(pdb)
    if reason is not None:
        field = "maxUnavailable" if reason.startswith("max") else "minAvailable"
        yield Violation(f"{reason}: no pod it selects may ever be evicted, so node drains block",
                        ("spec", field), {"budget": reason})


@set_rule(KS804, kinds=("PodDisruptionBudget", "HorizontalPodAutoscaler"))
def budget_demands_every_pod(ctx: PolicyContext) -> Iterator[Violation]:
    for ns, budgets in _budgets(ctx).items():
        yield from _demanding(ctx, ns, budgets)


def _demanding(ctx: PolicyContext, ns: str, budgets: list[tuple[Manifest, LabelSelector | None]]) -> Iterator[Violation]:
    for pdb, selector in budgets:
        chosen = selected(ctx, ns, selector, owners=True)
        if not chosen or forbids_every_eviction(pdb) is not None:
            continue  # nothing to weigh, or KS803 says it already
        fewest = [_replica_range(ctx, t.owner) for t in chosen]
        if any(bounds is None for bounds in fewest):
            continue  # a DaemonSet's or a CRD's pod count is not in the manifests
        expected = sum(bounds[0] for bounds in fewest if bounds is not None)
        keeps = desired_healthy(pdb, expected)
        if keeps is not None and expected > 0 and keeps >= expected:
            spec = pdb.get("spec")
            workloads = [_ref(t.owner) for t in chosen]
            yield Violation(
                f"keeps {keeps} of the {expected} pod(s) of {', '.join(workloads)} at their fewest replicas: no eviction "
                "is allowed, node drains block",
                ("spec", "minAvailable" if isinstance(spec, Mapping) and "minAvailable" in spec else "maxUnavailable"),
                {"desired_healthy": keeps, "expected_pods": expected, "workloads": workloads}, subject=pdb,
            )


@set_rule(KS805, kinds=("PodDisruptionBudget",))
def budget_selecting_nothing(ctx: PolicyContext) -> Iterator[Violation]:
    for ns, budgets in _budgets(ctx).items():
        for pdb, selector in budgets:
            if selected(ctx, ns, selector):
                continue
            yield Violation(
                f"selector {format_selector(selector)} selects no pod template in {ns or 'its namespace'}",
                ("spec", "selector"), {"selector": format_selector(selector)}, subject=pdb,
            )


# --------------------------------------------------------------------------- autoscalers


@object_rule(KS806, kinds=("HorizontalPodAutoscaler",))
def autoscaler_bounds(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    hpa = _decode(obj, o.HorizontalPodAutoscaler)
    if hpa is not None and (hpa.spec.minReplicas or 1) > hpa.spec.maxReplicas:
        yield Violation(
            f"minReplicas {hpa.spec.minReplicas or 1} is above maxReplicas {hpa.spec.maxReplicas}",
            ("spec", "minReplicas"), {"min_replicas": hpa.spec.minReplicas or 1, "max_replicas": hpa.spec.maxReplicas},
        )


def _target(ctx: PolicyContext, hpa: o.HorizontalPodAutoscaler) -> Manifest | None:
    ref = hpa.spec.scaleTargetRef
    found = ctx.get(ref.kind, hpa.metadata.namespace, ref.name)
    return found if found is not None and scales(hpa, found) else None


@set_rule(KS807, kinds=("HorizontalPodAutoscaler",))
def utilization_without_requests(ctx: PolicyContext) -> Iterator[Violation]:
    for raw, hpa in _hpas(ctx):
        target = _target(ctx, hpa)
        if target is None:
            continue
        template = pod_template_of(target)
        if template is None:
            continue
        missing: list[str] = []
        for resource, only in utilization_resources(hpa):
            for ref in template.containers(init=False):
                requests = (ref.container.get("resources") or {}).get("requests") or {}
                if (not only or ref.name == only) and resource not in requests:
                    missing.append(f"{ref.name} ({resource})")
        if missing:
            yield Violation(
                f"scales {_ref(target)} on utilization, but container(s) {', '.join(missing)} request none of it: "
                "the autoscaler cannot compute utilization and never scales",
                ("spec", "metrics") if hpa.spec.metrics else ("spec",),
                {"target": _ref(target), "containers": missing, "container": missing[0].split(" ", 1)[0]},
                subject=raw,
            )


@set_rule(KS808, kinds=("HorizontalPodAutoscaler",))
def autoscaler_without_target(ctx: PolicyContext) -> Iterator[Violation]:
    for raw, hpa in _hpas(ctx):
        if _target(ctx, hpa) is None:
            ref = hpa.spec.scaleTargetRef
            yield Violation(
                f"scaleTargetRef {ref.kind}/{ref.name} is not in the set",
                ("spec", "scaleTargetRef"), {"target": f"{ref.kind}/{ref.name}"}, subject=raw,
            )


# --------------------------------------------------------------------------- Services and Ingresses


@set_rule(KS809, kinds=("Service",))
def service_selecting_nothing(ctx: PolicyContext) -> Iterator[Violation]:
    for raw in ctx.of_kind("Service"):
        svc = _decode(raw, o.Service)
        if svc is None or svc.spec.type == "ExternalName" or not svc.spec.selector:
            continue  # endpoints managed by hand, or a DNS alias
        ns = _namespace(raw)
        if not map_selected(ctx, ns, svc.spec.selector):
            selector = format_selector(svc.spec.selector)
            yield Violation(
                f"selector {selector} matches no pod template in {ns or 'its namespace'}: the Service has no endpoints",
                ("spec", "selector"), {"selector": selector}, subject=raw,
            )


@set_rule(KS810, kinds=("Ingress", "Service"), reads_pods=False)
def ingress_to_missing_service(ctx: PolicyContext) -> Iterator[Violation]:
    for raw, use, _svc in _backends(ctx):
        if _svc is None:
            yield Violation(
                f"routes {', '.join(use.paths[:3])} to Service {use.service}, which is not in {_namespace(raw) or 'the set'}",
                _backend_field(raw, use.service), {"service": use.service, "paths": use.paths}, subject=raw,
            )


@set_rule(KS811, kinds=("Ingress", "Service"), reads_pods=False)
def ingress_to_missing_port(ctx: PolicyContext) -> Iterator[Violation]:
    for raw, use, svc in _backends(ctx):
        if svc is None or svc.spec.type == "ExternalName":
            continue
        missing = [port_label(p) for p in use.ports if not service_has_port(svc, p)]
        if missing:
            offered = [f"{p.name}:{p.port}" if p.name else str(p.port) for p in svc.spec.ports or ()]
            yield Violation(
                f"backend {use.service}:{missing[0]} is not a port of Service {use.service} "
                f"(it has {', '.join(offered) or 'no ports'})",
                _backend_field(raw, use.service), {"service": use.service, "missing_ports": missing, "service_ports": offered},
                subject=raw,
            )


def _service_name(backend: Any) -> Any:
    target = backend.get("service") if isinstance(backend, Mapping) else None
    return target.get("name") if isinstance(target, Mapping) else None


def _backend_field(ingress: Manifest, service: str) -> tuple[str | int, ...]:
    """Where the Ingress first routes to ``service`` (its default backend or a rule's path)."""
    spec = ingress.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    if _service_name(spec.get("defaultBackend")) == service:
        return ("spec", "defaultBackend", "service")
    rules = spec.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        http = rule.get("http") if isinstance(rule, Mapping) else None
        paths = http.get("paths") if isinstance(http, Mapping) else None
        for j, path in enumerate(paths if isinstance(paths, list) else []):
            if isinstance(path, Mapping) and _service_name(path.get("backend")) == service:
                return ("spec", "rules", i, "http", "paths", j, "backend", "service")
    return ("spec",)


def _backends(ctx: PolicyContext) -> Iterator[tuple[Manifest, Any, o.Service | None]]:
    for raw in ctx.of_kind("Ingress"):
        ingress = _decode(raw, o.Ingress)
        if ingress is None:
            continue
        ns = _namespace(raw)
        for use in backend_uses(ingress).values():
            found = ctx.get("Service", ns, use.service)
            yield raw, use, _decode(found, o.Service) if found is not None else None


# --------------------------------------------------------------------------- the set's hygiene


def _namespaced(obj: Manifest, ctx: PolicyContext) -> bool | None:
    """Whether ``obj``'s kind is namespaced: a built-in's scope, or a CRD's of the set (None: unknown)."""
    kind, group = str(obj.get("kind", "")), group_of(str(obj.get("apiVersion", "")))
    builtin = by_name(kind)
    if builtin is not None and builtin.group == group and builtin.kind == kind:
        return builtin.namespaced
    for crd in ctx.of_kind("CustomResourceDefinition"):
        spec = crd.get("spec")
        names = spec.get("names") if isinstance(spec, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(names, Mapping) and names.get("kind") == kind and spec.get("group") == group:
            return spec.get("scope") == "Namespaced"
    return None


@set_rule(KS812, kinds=(), reads_pods=False)
def missing_namespace(ctx: PolicyContext) -> Iterator[Violation]:
    if ctx.live:
        return  # a cluster's objects always have one
    for obj in ctx.objects:
        if not _namespace(obj) and _namespaced(obj, ctx):
            yield Violation(f"{obj.get('kind')} {_name(obj)} sets no metadata.namespace", ("metadata",), subject=obj)


@set_rule(KS813, kinds=(), reads_pods=False)
def duplicate_objects(ctx: PolicyContext) -> Iterator[Violation]:
    seen: dict[tuple[str, str, str, str], int] = {}
    for obj in ctx.objects:
        key = (group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")), _namespace(obj), _name(obj))
        count = seen[key] = seen.get(key, 0) + 1
        if count > 1 and key[3]:
            yield Violation(
                f"{key[1]} {key[3]} is defined {count} times in the set: the last one applied wins",
                ("metadata", "name"), {"occurrence": count}, subject=obj,
            )


@object_rule(KS814, kinds=("Pod",))
def bare_pod(pod: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    if not controlled(pod):
        yield Violation("no controller owns this pod: nothing recreates it when its node fails or it is evicted",
                        ("metadata",))
