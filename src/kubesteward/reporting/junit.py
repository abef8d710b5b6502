"""JUnit XML, the test-report format every CI system shows (GitLab, Jenkins, Azure, CircleCI, GitHub
actions' test reporters): suites of test cases, a failure for each case that found something.

Generic: the feature decides what a suite and a case are (``lint``: a suite per file, a case per rule
and object). Text from outside is made printable first (:func:`kubesteward.terminal.neutralise`):
XML 1.0 cannot hold most control characters at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubesteward.terminal import neutralise


@dataclass(frozen=True)
class Failure:
    message: str  # one line: what CI systems show in their list
    type: str  # the rule's code or the severity: what CI systems group by
    text: str = ""  # the detail shown when the case is opened


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest test class, whatever its name

    name: str
    classname: str
    failure: Failure | None = None


@dataclass(frozen=True)
class TestSuite:
    __test__ = False

    name: str
    cases: Sequence[TestCase] = field(default_factory=tuple)

    @property
    def failures(self) -> int:
        return sum(1 for case in self.cases if case.failure is not None)


def _text(value: str, *, one_line: bool = False) -> str:
    return neutralise(value, one_line=one_line)


def junit_xml(suites: Sequence[TestSuite], name: str = "kubesteward") -> str:
    """The document: ``<testsuites>`` holding each suite, with the counts CI systems read."""
    root = ET.Element("testsuites", {
        "name": name,
        "tests": str(sum(len(s.cases) for s in suites)),
        "failures": str(sum(s.failures for s in suites)),
        "errors": "0",
    })
    for suite in suites:
        element = ET.SubElement(root, "testsuite", {
            "name": _text(suite.name, one_line=True),
            "tests": str(len(suite.cases)),
            "failures": str(suite.failures),
            "errors": "0",
            "skipped": "0",
        })
        for case in suite.cases:
            item = ET.SubElement(element, "testcase", {
                "name": _text(case.name, one_line=True), "classname": _text(case.classname, one_line=True),
            })
            if case.failure is not None:
                failure = ET.SubElement(item, "failure", {
                    "message": _text(case.failure.message, one_line=True), "type": _text(case.failure.type),
                })
                failure.text = _text(case.failure.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
