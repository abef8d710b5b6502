"""The resource rules read resources as the real API server fills them in.

KS700–KS702 do not report a request the API server makes from a limit, nor what a LimitRange of the
namespace defaults, nor what pod-level resources cover; KS704 reports exactly the requests above
limits the API server refuses. Each is checked with a server-side dry run: what the server returns is
the pod as it would run, and the rules judging the pod as written must agree with what the server made
of it (a container left without a request or limit by the server is one the rules report).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesteward.cluster import KubeClient
from kubesteward.errors import Invalid
from tests.support.pods import Obj, as_kind, container, findings, pod_spec

RESOURCE_CODES = ["KS700", "KS701", "KS702", "KS704"]


def pod_with(namespace: str, resources: dict[str, Any] | None, pod_level: dict[str, Any] | None = None) -> Obj:
    pod = as_kind("Pod", name="resources", ns=namespace)
    if resources is None:
        container(pod).pop("resources")
    else:
        container(pod)["resources"] = resources
    if pod_level is not None:
        pod_spec(pod)["resources"] = pod_level
    return pod


def missing_after_admission(made: Obj) -> set[str]:
    """The codes the server's pod still deserves: a container without a cpu/memory request or a memory limit."""
    codes = set()
    for item in made["spec"]["containers"]:
        resources = item.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        pod_level = made["spec"].get("resources", {})
        covered_requests = {*pod_level.get("requests", {}), *pod_level.get("limits", {})}
        covered_limits = set(pod_level.get("limits", {}))
        codes |= {code for code, resource in (("KS700", "cpu"), ("KS701", "memory"))
                  if resource not in requests and resource not in covered_requests}
        if "memory" not in limits and "memory" not in covered_limits:
            codes.add("KS702")
    return codes


CASES = {
    "nothing": (None, None),
    "limits alone": ({"limits": {"cpu": "1", "memory": "1Gi"}}, None),
    "requests alone": ({"requests": {"cpu": "1", "memory": "1Gi"}}, None),
    "pod-level limits": ({}, {"limits": {"cpu": "2", "memory": "2Gi"}}),
    "everything": ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}, None),
}


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
async def test_requests_and_limits_are_judged_as_the_api_server_fills_them(
    kube: KubeClient, namespace: str, case: str
) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}, namespace=namespace)
    resources, pod_level = CASES[case]
    pod = pod_with(namespace, copy.deepcopy(resources), copy.deepcopy(pod_level))
    made = await kube.create(pod, namespace=namespace, dry_run=True)
    assert {f.code for f in findings([pod], RESOURCE_CODES)} == missing_after_admission(made)


async def test_a_limit_range_default_is_what_the_rules_take_it_for(kube: KubeClient, namespace: str) -> None:
    limit_range = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": namespace},
                   "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"},
                                        "defaultRequest": {"cpu": "100m"}}]}}
    await kube.create(limit_range, namespace=namespace)
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}, namespace=namespace)
    pod = pod_with(namespace, None)
    made = await kube.create(pod, namespace=namespace, dry_run=True)
    # `default` fills the limit and, with no defaultRequest for it, the request; defaultRequest the request
    assert made["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "100m", "memory": "512Mi"},
                                                           "limits": {"memory": "512Mi"}}
    assert missing_after_admission(made) == set()
    assert findings([pod, limit_range], RESOURCE_CODES) == []
    assert {f.code for f in findings([pod], RESOURCE_CODES)} == {"KS700", "KS701", "KS702"}  # without the LimitRange


@pytest.mark.parametrize(("requests", "limits", "refused"), [
    ({"memory": "1Gi"}, {"memory": "1000Mi"}, True),
    ({"memory": "1000Mi"}, {"memory": "1Gi"}, False),
    ({"cpu": "1500m"}, {"cpu": "1"}, True),
    ({"cpu": "0.5"}, {"cpu": "500m"}, False),
])
async def test_a_request_above_its_limit_is_reported_exactly_when_the_api_server_refuses_it(
    kube: KubeClient, namespace: str, requests: dict[str, str], limits: dict[str, str], refused: bool
) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}, namespace=namespace)
    pod = pod_with(namespace, {"requests": requests, "limits": limits})
    reported = [f.code for f in findings([pod], ["KS704"])] == ["KS704"]
    try:
        await kube.create(pod, namespace=namespace, dry_run=True)
    except Invalid as exc:
        assert "must be less than or equal to" in str(exc)
        assert refused and reported
    else:
        assert not refused and not reported
