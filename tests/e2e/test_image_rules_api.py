"""Image references as the real API server reads them: the pull policy it defaults for each, which
the pull-policy rule (KS713) and the floating-image rule (KS710) build on."""

from __future__ import annotations

import pytest

from kubesteward.cluster import KubeClient
from kubesteward.model.semantics.images import parse_image
from tests.support.pods import DIGEST, as_kind, container


@pytest.mark.parametrize("image", [
    "nginx", "nginx:latest", "nginx:1.27", f"nginx@{DIGEST}", f"nginx:latest@{DIGEST}", "localhost:5000/app",
    "localhost:5000/app:1", "registry.example.com/team/app:v2",
])
async def test_the_default_pull_policy_is_the_api_servers(kube: KubeClient, namespace: str, image: str) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}, namespace=namespace)
    pod = as_kind("Pod", name="image", ns=namespace)
    container(pod)["image"] = image
    container(pod).pop("imagePullPolicy")
    made = await kube.create(pod, namespace=namespace, dry_run=True)
    assert made["spec"]["containers"][0]["imagePullPolicy"] == parse_image(image).default_pull_policy()
