"""Text shaping of the CLI's human views."""

from __future__ import annotations

from kubesteward.cli.diagnose import reflow
from kubesteward.findings import Remediation, Step
from kubesteward.findings.catalogue import CODES


def test_reflow_joins_wrapped_prose_and_list_continuations() -> None:
    text = "One sentence\nwrapped here.\n\n- item one\n  continues\n- item two"
    assert reflow(text) == "One sentence wrapped here.\n\n- item one continues\n- item two"


def test_reflow_keeps_indented_commands_after_prose() -> None:
    text = "Run these:\n  kubectl get sc\n  kubectl get pvc\nThen recreate it."
    assert reflow(text) == "Run these:\n  kubectl get sc\n  kubectl get pvc\nThen recreate it."


def test_the_table_shows_the_first_step_with_its_command() -> None:
    # What the compact view prints as "fix:": the first step, its command after it (never split from it).
    remediation = Remediation((Step("Describe the node", "kubectl describe node n1"), Step("Then fix it")))
    assert remediation.first.rendered() == "Describe the node: `kubectl describe node n1`"
    assert Remediation((Step("Create the object that is missing"),)).first.rendered() == "Create the object that is missing"


def test_no_code_has_a_step_ending_on_a_colon() -> None:
    # A step that announces a command carries it (``command``): no step's sentence dangles on a colon.
    dangling = {c.code: s.text for c in CODES.values() for s in c.remediation.steps if s.text.rstrip().endswith(":")}
    assert dangling == {}
    # The catalogue's KS301 leads with the command that shows the selector to compare with the labels.
    first = CODES["KS301"].remediation.first
    assert first.text.endswith("fix whichever side is wrong")
    assert first.command == "kubectl get service <service> -n <namespace> -o jsonpath='{.spec.selector}'"
