"""Text shaping of the CLI's human views."""

from __future__ import annotations

from kubesteward.checks.base import CODES
from kubesteward.checks.engine import load_analyzers
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
    # A step announcing commands brings the first of them (a step never ends on a dangling colon).
    assert _first_step("Point the claim at a class\nthat exists:\n  kubectl get storageclass\n  kubectl get pvc") == (
        "Point the claim at a class that exists: kubectl get storageclass"
    )
    assert _first_step("kubectl get ingress a -o yaml\nkubectl get services\nFix it.") == "kubectl get ingress a -o yaml"
    assert _first_step("- Make them disjoint:\n  `kubectl get pdb -n shop`\n- Or merge them.") == (
        "Make them disjoint: `kubectl get pdb -n shop`"
    )
    assert _first_step("Decide what to do with the data:") == "Decide what to do with the data"


def test_no_code_shows_a_step_ending_on_a_colon() -> None:
    load_analyzers()
    dangling = {c.code: _first_step(c.remediation) for c in CODES.values() if _first_step(c.remediation).endswith(":")}
    assert dangling == {}
    # The catalogue's KS301 announces the commands that compare selector and labels.
    assert _first_step(CODES["KS301"].remediation).endswith(
        "fix whichever side is wrong: kubectl get service <service> -n <namespace> -o jsonpath='{.spec.selector}'"
    )
