"""Findings: what is wrong, how bad, why, and what to do about it; shared by every feature that
judges a cluster (diagnose and watch today, policy and drift next).

- :mod:`.severity`: :class:`Severity`;
- :mod:`.codes`: the stable codes (:class:`Code`, :func:`define`, the registry ``CODES``);
- :mod:`.remediation`: the structured remediation (:class:`Remediation` of :class:`Step`\\ s),
  personalised with a finding's names in one place;
- :mod:`.finding`: :class:`Finding` and its constructor :func:`finding`;
- :mod:`.catalogue`: every code's title, explanation and remediation, by area (importing it
  fills ``CODES``);
- :mod:`.incidents`: findings grouped under their root cause;
- :mod:`.fingerprint`: the one incident fingerprint of diagnose's ids and watch's alerts.

This layer sits above the model and below the analyzers (``checks``), which it never imports.
"""

from __future__ import annotations

from kubesteward.findings.codes import CODES, Code, define
from kubesteward.findings.finding import Finding, finding, fix
from kubesteward.findings.remediation import Remediation, Step, steps
from kubesteward.findings.severity import Severity

__all__ = ["CODES", "Code", "Finding", "Remediation", "Severity", "Step", "define", "finding", "fix", "steps"]
