"""Workloads for policy tests: one that every container and security rule accepts, and small
helpers to break it in one place and see what one rule says."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesteward.findings import Finding
from kubesteward.policy import PolicyConfig, PolicyContext, PolicySettings, evaluate

Obj = dict[str, Any]
DIGEST = "sha256:" + "ab" * 32
REGISTRY = "registry.example.com"
NS = "shop"


def compliant_container(name: str = "app") -> Obj:
    """A container every container and security rule accepts (the optional ones included)."""
    return {
        "name": name,
        "image": f"{REGISTRY}/team/app:1.4.2@{DIGEST}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "failureThreshold": 6},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "startupProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "failureThreshold": 30},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }


def compliant_pod_spec() -> Obj:
    return {
        "serviceAccountName": "web",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [compliant_container()],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "web"}}],
    }


def compliant_deployment(name: str = "web", ns: str = NS) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": compliant_pod_spec()}},
    }


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a Deployment, Pod, Job or CronJob built here (itself: changes go into ``obj``)."""
    if obj["kind"] == "Pod":
        spec: Obj = obj["spec"]
    elif obj["kind"] == "CronJob":
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = obj["spec"]["template"]["spec"]
    return spec


def container(obj: Obj, index: int = 0) -> Obj:
    found: Obj = pod_spec(obj)["containers"][index]
    return found


def as_kind(kind: str, spec: Obj | None = None, name: str = "web", ns: str = NS) -> Obj:
    """The compliant pod spec (or ``spec``) in a ``kind``: Pod, Job, CronJob or Deployment."""
    spec = copy.deepcopy(spec if spec is not None else compliant_pod_spec())
    meta = {"name": name, "namespace": ns}
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "labels": {"app": name}}, "spec": spec}
    if kind == "Job":
        spec.setdefault("restartPolicy", "Never")
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": template}}
    if kind == "CronJob":
        spec.setdefault("restartPolicy", "OnFailure")
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}}
    deployment = compliant_deployment(name, ns)
    deployment["spec"]["template"]["spec"] = spec
    return deployment


def settings(**values: Any) -> PolicySettings:
    return PolicySettings(**{"allowed_registries": (REGISTRY,), **values})


def findings(objects: Iterable[Obj], codes: Iterable[str], *, profile: str = "all",
             policy_settings: PolicySettings | None = None) -> list[Finding]:
    """What the rules of ``codes`` find in ``objects``, through the engine (registration, profile,
    configuration included)."""
    config = PolicyConfig(profile=profile, only=tuple(codes), settings=policy_settings or settings())
    return evaluate(PolicyContext(list(objects), config.settings), config).findings


def judge_change(base: Obj, change: Callable[[Obj], Any], codes: Iterable[str],
                 policy_settings: PolicySettings | None = None) -> list[Finding]:
    """What the rules of ``codes`` find in a copy of ``base`` after ``change``, which may return other
    objects to judge with it (a list, or a tuple holding one)."""
    obj = copy.deepcopy(base)
    extra = change(obj)
    objects: list[Obj] = [obj]
    for item in extra if isinstance(extra, tuple) else (extra,):
        if isinstance(item, list):
            objects.extend(item)
    return findings(objects, codes, policy_settings=policy_settings)


@dataclass(frozen=True)
class Case:
    """A change to the compliant workload (of ``kind``) and how many findings of ``code`` it must give."""

    code: str
    change: Callable[[Obj], Any]  # may return other objects to judge with it (a list, or a tuple holding one)
    found: int = 1
    kind: str = "Deployment"
    target: str = "1.32"  # policy.settings.targetVersion
    settings: Mapping[str, Any] = field(default_factory=dict)  # other policy settings
    says: str = ""  # a piece of the first finding's message

    def judged(self) -> list[Finding]:
        base = compliant_deployment() if self.kind == "Deployment" else as_kind(self.kind)
        return judge_change(base, self.change, [self.code], settings(target_version=self.target, **self.settings))

    def check(self) -> None:
        """The rule finds what the case says: ``found`` findings of its code, the first saying ``says``."""
        found = self.judged()
        assert [f.code for f in found] == [self.code] * self.found
        if found:
            assert self.says in found[0].message
