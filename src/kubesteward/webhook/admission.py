"""AdmissionReview v1 in, AdmissionReview v1 out: the policy engine's verdict and the safe fixes.

Pure (no I/O): the server (:mod:`kubesteward.webhook.server`) parses, times and sends. The object
enters redacted (Secret values, env values and the last-applied annotation never reach a rule, a
message or a log line), exactly as ``lint`` and ``audit`` see objects.

What is judged: creating a pod; creating anything else the webhook is registered for (workloads,
any kind with a pod template, the kinds object rules judge), and updating it when more than its
metadata changes. Not judged (allowed as they are): an update of metadata alone (a controller's
revision annotation, a label, a finalizer: refusing it on an object made before a rule existed
would stop its controller and help nobody), a pod's updates (its spec is immutable but for images
and tolerations), deletes and connects, subresources, objects being deleted, and the exempt
namespaces (``kube-system``, ``kube-public``, ``kube-node-lease`` and the webhook's own).

``dryRun`` requests are answered exactly as the others: nothing here has a side effect to skip
(the configurations say ``sideEffects: None``), and a dry run must show what the real request would meet.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from kubesteward.findings import Finding
from kubesteward.model.semantics.pod_templates import controlled
from kubesteward.policy.config import PolicyConfig
from kubesteward.policy.engine import evaluate_admission
from kubesteward.policy.fixes import Fix, json_patch, safe_fixes
from kubesteward.redaction import redact_manifest

FailurePolicy = Literal["Fail", "Ignore"]
Review = Mapping[str, Any]
MUTATED_ANNOTATION = "kubesteward.io/mutated"  # what the mutating webhook added, for people reading the object
# Each warning the API server relays is cut at this length; ours are cut first, where it reads well.
WARNING_LENGTH = 240


class BadReview(ValueError):
    """A body that is not an AdmissionReview (answered 400: the API server never sends one)."""


@dataclass(frozen=True)
class AdmissionPolicy:
    """How the webhook judges: the policy configuration, which namespaces it leaves alone, and
    what it answers when it cannot judge in time (``failure_policy``: as the configurations'
    ``failurePolicy`` would: ``Fail`` refuses, ``Ignore`` admits with a warning)."""

    config: PolicyConfig = field(default_factory=PolicyConfig)
    failure_policy: FailurePolicy = "Fail"
    budget: float = 2.0  # seconds an evaluation may take before the failure policy answers

    def with_exempt(self, *namespaces: str) -> AdmissionPolicy:
        """The same, with ``namespaces`` (the webhook's own) exempt too."""
        settings = self.config.settings
        extra = tuple(ns for ns in namespaces if ns and ns not in settings.exempt_namespaces)
        if not extra:
            return self
        fresh = dataclasses.replace(settings, exempt_namespaces=(*settings.exempt_namespaces, *extra))
        return dataclasses.replace(self, config=dataclasses.replace(self.config, settings=fresh))

    @property
    def exempt_namespaces(self) -> tuple[str, ...]:
        return self.config.settings.exempt_namespaces


@dataclass(frozen=True)
class Request:
    """The parts of an AdmissionReview's request the webhook reads."""

    api_version: str
    uid: str
    operation: str
    namespace: str
    sub_resource: str
    dry_run: bool
    object: Mapping[str, Any] | None
    old_object: Mapping[str, Any] | None = None

    @property
    def kind(self) -> str:
        return str(self.object.get("kind", "")) if self.object else ""


def parse_review(body: bytes) -> Request:
    """The request of an AdmissionReview body, or :class:`BadReview`."""
    try:
        review = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadReview(f"not JSON: {exc}") from None
    request = review.get("request") if isinstance(review, Mapping) else None
    if not isinstance(request, Mapping) or review.get("kind") != "AdmissionReview" or not request.get("uid"):
        raise BadReview("expected an AdmissionReview with a request and its uid")
    obj = request.get("object")
    old = request.get("oldObject")
    return Request(
        api_version=str(review.get("apiVersion") or "admission.k8s.io/v1"),
        uid=str(request["uid"]),
        operation=str(request.get("operation") or ""),
        namespace=str(request.get("namespace") or ""),
        sub_resource=str(request.get("subResource") or ""),
        dry_run=bool(request.get("dryRun")),
        object=obj if isinstance(obj, Mapping) else None,
        old_object=old if isinstance(old, Mapping) else None,
    )


def judged(request: Request, policy: AdmissionPolicy) -> bool:
    """Whether the request is one the webhook judges (see the module's list)."""
    obj = request.object
    if obj is None or request.sub_resource or request.namespace in policy.exempt_namespaces:
        return False
    if request.operation == "CREATE":
        return True
    metadata = obj.get("metadata")
    being_deleted = isinstance(metadata, Mapping) and bool(metadata.get("deletionTimestamp"))
    return (request.operation == "UPDATE" and request.kind != "Pod" and not being_deleted
            and _beyond_metadata(obj) != _beyond_metadata(request.old_object))


def _beyond_metadata(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (obj or {}).items() if key not in ("metadata", "status")}


def subject(request: Request) -> dict[str, Any]:
    """The object as rules see it: redacted, with the namespace the request names (a manifest
    posted to a namespace's URL may leave it out)."""
    assert request.object is not None
    manifest = redact_manifest(request.object)
    metadata = manifest.setdefault("metadata", {})
    if isinstance(metadata, dict) and request.namespace and not metadata.get("namespace"):
        metadata["namespace"] = request.namespace
    return manifest


@dataclass(frozen=True)
class Answer:
    """An AdmissionReview's response, before it is encoded."""

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    patch: tuple[dict[str, Any], ...] = ()
    code: int = 403


def validate(request: Request, policy: AdmissionPolicy) -> Answer:
    """Refused by every error-level finding (each code and message), warned by the rest."""
    if not judged(request, policy):
        return Answer(True)
    verdict = evaluate_admission(subject(request), policy.config)
    warnings = tuple(_line(f) for f in verdict.warnings)
    if verdict.allowed:
        return Answer(True, warnings=warnings)
    reasons = "; ".join(_line(f, limit=None) for f in verdict.denials)
    return Answer(False, message=f"kubesteward policy: {reasons}", warnings=warnings)


def mutate(request: Request, policy: AdmissionPolicy) -> Answer:
    """The safe fixes as a JSON Patch, and the annotation saying what they were.

    Not for what a controller makes other than pods (a Deployment's ReplicaSet): the Deployment
    controller finds its ReplicaSet by comparing templates, and one changed behind its back would
    never match again (it would make ReplicaSets without end). Its pods are fixed instead."""
    if not judged(request, policy) or (request.kind != "Pod" and controlled(request.object or {})):
        return Answer(True)
    manifest = subject(request)
    fixes = safe_fixes(manifest, policy.config.settings)
    if not fixes:
        return Answer(True)
    noted = Fix(("metadata", "annotations", MUTATED_ANNOTATION), "; ".join(fix.reason for fix in fixes), "noted")
    return Answer(True, patch=tuple(json_patch(manifest, [*fixes, noted])))


def unjudged(policy: AdmissionPolicy, why: str) -> Answer:
    """The answer when judging failed (past the budget, or a rule's bug), as the failure policy says."""
    if policy.failure_policy == "Ignore":
        return Answer(True, warnings=(f"kubesteward policy not applied: {why}",))
    return Answer(False, message=f"kubesteward policy could not judge this object: {why}", code=500)


def response(request: Request, answer: Answer) -> dict[str, Any]:
    """The AdmissionReview answering ``request``."""
    body: dict[str, Any] = {"uid": request.uid, "allowed": answer.allowed}
    if not answer.allowed:
        body["status"] = {"code": answer.code, "message": answer.message,
                          "reason": "Forbidden" if answer.code == 403 else "InternalError"}
    if answer.warnings:
        body["warnings"] = list(answer.warnings)
    if answer.patch:
        body["patchType"] = "JSONPatch"
        body["patch"] = base64.b64encode(msgspec.json.encode(answer.patch)).decode()
    return {"apiVersion": request.api_version, "kind": "AdmissionReview", "response": body}


def _line(item: Finding, limit: int | None = WARNING_LENGTH) -> str:
    text = f"{item.code} {item.message}"
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
