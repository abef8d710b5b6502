"""The Pod Security Standards rules agree with the real API server's Pod Security Admission.

Every PSS case of the unit tests (``tests/support/pss_cases.py``: a compliant pod broken in one place,
or changed in a way the standards accept) is sent as a Pod, with a server-side dry run, into namespaces
enforcing ``baseline`` and ``restricted`` at the case's target version; the rules' verdict for the
``pss-baseline`` and ``pss-restricted`` profiles at that version must be the admission plugin's. A pod
the API server finds invalid before admission (a field the server's validation forbids, such as an
Unmasked /proc outside a user namespace from 1.35) says nothing about the standards and is left out;
the test insists on few of those.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator

import pytest

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import Forbidden, Invalid, NotFound
from kubesteward.model.semantics.api_versions import Version, format_version, parse_version
from tests.support.pods import Case, Obj, compliant_deployment, findings, settings
from tests.support.pss_cases import ACCEPTED, BASELINE, REPORTED, RESTRICTED
from tests.support.wait import eventually

NAMESPACES = resources.by_name("Namespace")
assert NAMESPACES is not None
LEVELS = ("baseline", "restricted")
# The PSS cases but those with ephemeral containers: a pod gets those only once it runs (a subresource).
PSS_CASES = {name: case for name, case in {**REPORTED, **ACCEPTED}.items()
             if case.code in BASELINE + RESTRICTED and "ephemeral container" not in name}
# Fields the API server's validation forbids for a Windows pod (spec.os.name: windows)
_LINUX_ONLY_POD = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "fsGroup", "fsGroupChangePolicy", "sysctls",
                   "runAsUser", "runAsGroup", "supplementalGroups")
_LINUX_ONLY_CONTAINER = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "capabilities", "readOnlyRootFilesystem",
                         "privileged", "allowPrivilegeEscalation", "procMount", "runAsUser", "runAsGroup")


def as_pod(case: Case, name: str) -> Obj:
    """The case's change made to the compliant Deployment, as the Pod its template makes."""
    deployment = copy.deepcopy(compliant_deployment())
    case.change(deployment)
    template = deployment["spec"]["template"]
    spec = template["spec"]
    if spec.get("os", {}).get("name") == "windows":  # only what a Windows pod may carry
        for key in _LINUX_ONLY_POD:
            spec.get("securityContext", {}).pop(key, None)
        for list_name in ("initContainers", "containers", "ephemeralContainers"):
            for item in spec.get(list_name, []):
                for key in _LINUX_ONLY_CONTAINER:
                    item.get("securityContext", {}).pop(key, None)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **template["metadata"]}, "spec": spec}


def ours(pod: Obj, level: str, target: Version) -> list[str]:
    """The codes the rules of ``level``'s profile find in ``pod`` at ``target``."""
    found = findings([pod], BASELINE + RESTRICTED, profile=f"pss-{level}",
                     policy_settings=settings(target_version=format_version(target)))
    return sorted(f.code for f in found)


async def admitted(kube: KubeClient, namespace: str, pod: Obj) -> bool | None:
    """Whether the API server admits ``pod`` (dry run); None when it is invalid before admission."""
    try:
        await kube.create(pod, namespace=namespace, dry_run=True)
    except Forbidden as exc:
        assert "violates PodSecurity" in str(exc), exc
        return False
    except Invalid:
        return None
    return True


@pytest.fixture
async def enforcing(kube: KubeClient) -> AsyncIterator[dict[tuple[str, Version], str]]:
    """A namespace per level and target version the cases use, enforcing that level at that version."""
    server = parse_version((await kube.version())["gitVersion"])
    targets = {min(parse_version(case.target), server) for case in PSS_CASES.values()}
    made: dict[tuple[str, Version], str] = {}
    try:
        for level in LEVELS:
            for target in sorted(targets):
                name = f"pss-{level[0]}{target[1]}-{uuid.uuid4().hex[:6]}"
                labels = {"pod-security.kubernetes.io/enforce": level,
                          "pod-security.kubernetes.io/enforce-version": f"v{format_version(target)}"}
                await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
                made[(level, target)] = name
                await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}, namespace=name)
        # Admission reads namespaces from an informer: wait until each enforces its level.
        privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
                      "spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": {"privileged": True}}]}}
        for name in made.values():
            await eventually(lambda name=name: admitted(kube, name, privileged), lambda ok: ok is False,
                             timeout=30, what=f"namespace {name} to enforce its level")
        yield made
    finally:
        for name in made.values():
            try:
                await kube.delete(NAMESPACES, name)
            except NotFound:
                pass


async def test_the_pss_rules_judge_every_case_as_pod_security_admission_does(
    kube: KubeClient, enforcing: dict[tuple[str, Version], str]
) -> None:
    server = max(target for _, target in enforcing)
    disagreements: list[str] = []
    invalid: set[str] = set()
    compared = eligible = 0
    for index, (case_name, case) in enumerate(PSS_CASES.items()):
        target = parse_version(case.target)
        if target > server:
            continue  # a version the server's admission does not know yet
        eligible += 1
        pod = as_pod(case, f"case-{index}")
        for level in LEVELS:
            verdict = await admitted(kube, enforcing[(level, target)], pod)
            if verdict is None:
                invalid.add(case_name)
                continue
            codes = ours(pod, level, target)
            compared += 1
            if verdict != (not codes):
                disagreements.append(f"{case_name} at {level} {case.target}: admission "
                                     f"{'admits' if verdict else 'rejects'}, the rules found {codes or 'nothing'}")
    assert disagreements == []
    # Cases the server's validation refuses outright are few; every other one was compared at both levels.
    assert len(invalid) <= len(PSS_CASES) // 10, sorted(invalid)
    assert compared == 2 * (eligible - len(invalid)) and compared >= 100
