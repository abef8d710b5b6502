"""API-version rules: removed (KS860) and deprecated (KS861) apiVersions for a target Kubernetes version."""

from __future__ import annotations

from typing import Any

import pytest

from kubesteward.errors import InputError
from kubesteward.model.semantics.api_versions import DEPRECATIONS, parse_version
from kubesteward.policy import PolicyConfig, PolicyContext, PolicySettings, evaluate


def obj(api_version: str, kind: str, name: str = "x", ns: str = "shop") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": {}}


def found(objects: list[dict[str, Any]], target: str = "1.32") -> dict[str, list[str]]:
    settings = PolicySettings(target_version=target)
    result = evaluate(PolicyContext(objects, settings), PolicyConfig(only=("KS86*",), settings=settings))
    out: dict[str, list[str]] = {}
    for f in result.findings:
        out.setdefault(f.code, []).append(f.message)
    return out


def test_a_removed_api_version_is_an_error_naming_the_replacement() -> None:
    result = found([obj("extensions/v1beta1", "Ingress")], "1.22")
    assert list(result) == ["KS860"]
    assert "not served since Kubernetes 1.22" in result["KS860"][0]
    assert "networking.k8s.io/v1" in result["KS860"][0]


def test_the_same_api_version_before_its_removal_is_only_deprecated_and_before_that_fine() -> None:
    assert list(found([obj("extensions/v1beta1", "Ingress")], "1.21")) == ["KS861"]
    assert "removed in 1.22" in found([obj("extensions/v1beta1", "Ingress")], "1.21")["KS861"][0]
    assert found([obj("policy/v1beta1", "PodDisruptionBudget")], "1.20") == {}
    assert list(found([obj("policy/v1beta1", "PodDisruptionBudget")], "1.21")) == ["KS861"]
    assert list(found([obj("policy/v1beta1", "PodDisruptionBudget")], "1.25")) == ["KS860"]


@pytest.mark.parametrize(("api_version", "kind", "removed"), [
    ("extensions/v1beta1", "Deployment", "1.16"),
    ("policy/v1beta1", "PodSecurityPolicy", "1.25"),
    ("batch/v1beta1", "CronJob", "1.25"),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "1.29"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration", "1.32"),
    ("networking.k8s.io/v1beta1", "Ingress", "1.22"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding", "1.22"),
])
def test_the_migration_guide_removals(api_version: str, kind: str, removed: str) -> None:
    major, minor = parse_version(removed)
    assert list(found([obj(api_version, kind)], f"{major}.{minor}")) == ["KS860"]
    assert "KS860" not in found([obj(api_version, kind)], f"{major}.{minor - 1}")


def test_current_api_versions_and_unknown_kinds_are_never_reported() -> None:
    current = [obj("apps/v1", "Deployment"), obj("networking.k8s.io/v1", "Ingress"), obj("policy/v1", "PodDisruptionBudget"),
               obj("autoscaling/v2", "HorizontalPodAutoscaler"), obj("argoproj.io/v1alpha1", "Rollout")]
    assert found(current, "1.34") == {}


def test_a_deprecation_without_a_scheduled_removal_stays_a_warning() -> None:
    result = found([obj("v1", "Endpoints")], "1.40")
    assert list(result) == ["KS861"] and "removed in" not in result["KS861"][0]
    assert found([obj("v1", "Endpoints")], "1.32") == {}


def test_target_versions_are_parsed_strictly() -> None:
    assert parse_version("1.32") == (1, 32)
    assert parse_version("v1.29.3") == (1, 29)
    assert parse_version("1.30.0-rc.1") == (1, 30)
    for bad in ("1", "latest", "1.x", "one.two", ""):
        with pytest.raises(ValueError, match="not a Kubernetes version"):
            parse_version(bad)
    with pytest.raises(InputError, match="targetVersion"):
        PolicySettings.from_mapping({"targetVersion": "next"}, ".kubesteward.yaml")
    assert PolicySettings.from_mapping({"targetVersion": "1.25"}, "f").target_version == "1.25"


def test_every_row_of_the_table_is_deprecated_before_it_is_removed() -> None:
    for entry in DEPRECATIONS.values():
        assert entry.removed is None or entry.deprecated < entry.removed, entry
