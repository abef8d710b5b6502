"""Text shaping of the CLI's human views."""

from __future__ import annotations

from kubesteward.cli.diagnose import _first_step, reflow


def test_reflow_joins_wrapped_prose_and_list_continuations() -> None:
    text = "One sentence\nwrapped here.\n\n- item one\n  continues\n- item two"
    assert reflow(text) == "One sentence wrapped here.\n\n- item one continues\n- item two"


def test_reflow_keeps_indented_commands_after_prose() -> None:
    text = "Run these:\n  kubectl get sc\n  kubectl get pvc\nThen recreate it."
    assert reflow(text) == "Run these:\n  kubectl get sc\n  kubectl get pvc\nThen recreate it."


def test_first_step_of_a_bulleted_remediation() -> None:
    assert _first_step("- `kubectl describe node n1`: conditions.\n- Then fix it.") == "`kubectl describe node n1`: conditions."
    assert _first_step("Create the object\nthat is missing.") == "Create the object that is missing."


def test_first_step_stops_before_a_command_block() -> None:
    assert _first_step("Point the claim at a class\nthat exists:\n  kubectl get storageclass") == (
        "Point the claim at a class that exists:"
    )
    assert _first_step("kubectl get ingress a -o yaml\nkubectl get services\nFix it.") == "kubectl get ingress a -o yaml"
