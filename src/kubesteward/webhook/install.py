"""The Validating- and MutatingWebhookConfiguration that send admission requests to the server.

What they say, and why:

- ``clientConfig``: a ``url`` (the server outside the cluster, e.g. ``https://127.0.0.1:9443``) or a
  ``service`` (the server in the cluster), with the ``caBundle`` that signed its certificate;
- ``rules``: pods on CREATE; every built-in kind with a pod template (and the ``--resource`` CRDs,
  e.g. ``argoproj.io/rollouts``) on CREATE and UPDATE; for validation also the kinds object rules judge;
- ``namespaceSelector``: every namespace but the exempt ones (``kube-system``, ``kube-public``,
  ``kube-node-lease`` and the server's own, so the webhook can always start itself and the control
  plane never waits for it), or only the namespaces named;
- ``failurePolicy``: what the API server does when the webhook cannot answer (docs/webhook.md);
- ``sideEffects: None`` (so ``dryRun`` requests are sent too), ``admissionReviewVersions: [v1]``,
  ``timeoutSeconds``, and ``reinvocationPolicy: IfNeeded`` for the mutation, so containers another
  mutating webhook adds later (a service mesh's sidecar) get the same fixes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound, UsageError
from kubesteward.model.semantics.pod_templates import KNOWN_PATHS
from kubesteward.policy.engine import load_rules
from kubesteward.webhook.admission import FailurePolicy

API_VERSION = "admissionregistration.k8s.io/v1"
VALIDATING = "ValidatingWebhookConfiguration"
MUTATING = "MutatingWebhookConfiguration"
DEFAULT_NAME = "kubesteward"
DEFAULT_TIMEOUT_SECONDS = 5
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace, from its name
_WEBHOOK_NAMES = {VALIDATING: "validate.policy.kubesteward.io", MUTATING: "mutate.policy.kubesteward.io"}
_PATHS = {VALIDATING: "/validate", MUTATING: "/mutate"}


@dataclass(frozen=True)
class Registration:
    """Where the server is and what it is sent. Exactly one of ``url`` and ``service`` (``(namespace, name)``)."""

    ca_bundle: bytes
    url: str | None = None
    service: tuple[str, str] | None = None
    service_port: int = 443
    name: str = DEFAULT_NAME
    failure_policy: FailurePolicy = "Fail"
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    namespaces: tuple[str, ...] = ()  # only these; empty: every namespace but the exempt
    exempt: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()  # GROUP/RESOURCE of CRDs with pod templates
    validating: bool = True
    mutating: bool = True

    def __post_init__(self) -> None:
        if (self.url is None) == (self.service is None):
            raise UsageError("give the webhook's --url or its --service NAMESPACE/NAME (one of them)")
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
                raise UsageError(f"--url {self.url!r}: expected https://HOST[:PORT][/PATH] (the API server calls HTTPS only)")
        if not 1 <= self.timeout_seconds <= 30:
            raise UsageError("--timeout: the API server accepts 1 to 30 seconds")
        for resource in self.resources:
            group, slash, plural = resource.partition("/")
            if not slash or not group or not plural:
                raise UsageError(f"--resource {resource!r}: expected GROUP/RESOURCE, e.g. argoproj.io/rollouts")
        if not self.validating and not self.mutating:
            raise UsageError("nothing to install: both validation and mutation are turned off")


def parse_service(text: str) -> tuple[str, str]:
    namespace, slash, name = text.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise UsageError(f"--service {text!r}: expected NAMESPACE/NAME")
    return namespace, name


def configurations(registration: Registration) -> list[dict[str, Any]]:
    """The configurations to apply (validating first), as plain manifests."""
    kinds = ([VALIDATING] if registration.validating else []) + ([MUTATING] if registration.mutating else [])
    return [_configuration(registration, kind) for kind in kinds]


def _configuration(registration: Registration, kind: str) -> dict[str, Any]:
    webhook: dict[str, Any] = {
        "name": _WEBHOOK_NAMES[kind],
        "clientConfig": _client_config(registration, _PATHS[kind]),
        "rules": _rules(registration, validating=kind == VALIDATING),
        "namespaceSelector": _namespace_selector(registration),
        "failurePolicy": registration.failure_policy,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": registration.timeout_seconds,
        "matchPolicy": "Equivalent",
    }
    if kind == MUTATING:
        webhook["reinvocationPolicy"] = "IfNeeded"
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": registration.name, "labels": {"app.kubernetes.io/managed-by": "kubesteward"}},
        "webhooks": [webhook],
    }


def _client_config(registration: Registration, path: str) -> dict[str, Any]:
    bundle = base64.b64encode(registration.ca_bundle).decode()
    if registration.url is not None:
        return {"url": registration.url.rstrip("/") + path, "caBundle": bundle}
    assert registration.service is not None
    namespace, name = registration.service
    return {"service": {"namespace": namespace, "name": name, "path": path, "port": registration.service_port},
            "caBundle": bundle}


def _rules(registration: Registration, *, validating: bool) -> list[dict[str, Any]]:
    by_group: dict[str, set[str]] = {}
    for kind in KNOWN_PATHS:
        rt = resources.by_name(kind)
        if rt is not None and rt.kind == kind and kind != "Pod":
            by_group.setdefault(rt.group, set()).add(rt.plural)
    if validating:
        for kind in _object_rule_kinds():
            rt = resources.by_name(kind)
            if rt is not None and rt.kind == kind and kind != "Pod":
                by_group.setdefault(rt.group, set()).add(rt.plural)
    for resource in registration.resources:
        group, _, plural = resource.partition("/")
        by_group.setdefault(group, set()).add(plural)
    # Limited to some namespaces, it must not see cluster-scoped objects, which no namespaceSelector filters.
    scope = "Namespaced" if registration.namespaces else "*"
    rules = [_rule([""], ["pods"], ["CREATE"], scope)]
    rules += [_rule([group], sorted(plurals), ["CREATE", "UPDATE"], scope) for group, plurals in sorted(by_group.items())]
    return rules


def _rule(groups: list[str], plurals: list[str], operations: list[str], scope: str) -> dict[str, Any]:
    return {"apiGroups": groups, "apiVersions": ["*"], "resources": plurals, "operations": operations, "scope": scope}


def _object_rule_kinds() -> set[str]:
    """Kinds some object rule judges by name (a rule for every kind is left out: registering the
    webhook for every kind would put it in the path of every write in the cluster)."""
    return {kind for rule in load_rules().values() if rule.target == "object" for kind in rule.kinds}


def _namespace_selector(registration: Registration) -> dict[str, Any]:
    if registration.namespaces:
        expression = {"key": NAMESPACE_LABEL, "operator": "In", "values": sorted(set(registration.namespaces))}
    else:
        expression = {"key": NAMESPACE_LABEL, "operator": "NotIn", "values": sorted(set(registration.exempt))}
    return {"matchExpressions": [expression]}


async def install(client: KubeClient, manifests: Iterable[Mapping[str, Any]], *, dry_run: bool = False) -> list[str]:
    """Server-side apply each configuration (as a server-side dry run when asked); what was applied (``Kind/name``)."""
    applied = []
    for manifest in manifests:
        await client.apply(manifest, dry_run=dry_run)
        applied.append(f"{manifest['kind']}/{manifest['metadata']['name']}")
    return applied


async def uninstall(client: KubeClient, name: str = DEFAULT_NAME, *, validating: bool = True,
                    mutating: bool = True) -> list[str]:
    """Delete the configurations called ``name``; what was deleted (one that is not there is skipped)."""
    deleted = []
    kinds = ([VALIDATING] if validating else []) + ([MUTATING] if mutating else [])
    for kind in kinds:
        rt = await client.resolve(API_VERSION, kind)
        try:
            await client.delete(rt, name)
        except NotFound:
            continue
        deleted.append(f"{kind}/{name}")
    return deleted
