"""What to do about a finding, as steps: each a sentence and, optionally, the one command that
carries it out.

Every output renders the same steps, never prose parsed back apart: the table shows the first
step, ``-o json|yaml`` lists them (``remediationSteps``) beside their text (``remediation``),
SARIF and Markdown list them, ``explain`` prints them, an alert carries their text.

The catalogue writes steps with ``<placeholders>``; :meth:`Remediation.personalised` fills those
a finding knows, in this one place.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesteward.model.cluster import ObjectKey


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do: ``text`` is a sentence without final punctuation ("Raise the memory
    limit"); ``command``, when there is one, carries it out as it stands."""

    text: str
    command: str | None = None

    def rendered(self) -> str:
        """The step as one line of text: ``sentence: `command```."""
        return f"{self.text}: `{self.command}`" if self.command else self.text

    def document(self) -> dict[str, str | None]:
        return {"text": self.text, "command": self.command}


@dataclass(frozen=True)
class Remediation:
    """The steps of a remediation, most useful first (the table view shows only the first)."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a remediation has at least one step")

    @property
    def first(self) -> Step:
        return self.steps[0]

    @functools.cached_property
    def text(self) -> str:
        """Every step as a line of a Markdown-style list (the ``remediation`` text of every format)."""
        return "\n".join(f"- {step.rendered()}" for step in self.steps)

    def documents(self) -> list[dict[str, str | None]]:
        return [step.document() for step in self.steps]

    def led_by(self, step: Step, *, replacing_first: bool = False) -> Remediation:
        """These steps led by ``step``, one naming the finding's own objects (the table view shows
        only the first step, so it must be the concrete one). ``replacing_first``: ``step`` is the
        first step made concrete, which it replaces (filled, both would say the same)."""
        rest = self.steps[1:] if replacing_first else self.steps
        return Remediation((step, *rest))

    @functools.cached_property
    def placeholders(self) -> tuple[str, ...]:
        """The ``<placeholders>`` of every step, once (most findings share a catalogue remediation)."""
        names: dict[str, None] = {}
        for step in self.steps:
            names.update(dict.fromkeys(_placeholders(step.text)))
            if step.command:
                names.update(dict.fromkeys(_placeholders(step.command)))
        return tuple(names)

    def personalised(
        self, obj: ObjectKey, evidence: Mapping[str, Any], fill: Mapping[str, str] | None = None
    ) -> Remediation:
        """These steps with the placeholders a finding knows filled in (:func:`placeholder_values`)."""
        names = self.placeholders
        if not names:
            return self
        values = placeholder_values(names, obj, evidence, fill)
        if not values:
            return self
        return Remediation(tuple(_filled_step(step, values) for step in self.steps))


def steps(*items: Step) -> Remediation:
    """A remediation of ``items``, in order (how the catalogue writes them)."""
    return Remediation(items)


_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9_+-]*)>")

# Evidence keys that hold one name and fill the placeholder of the same name in every code's
# remediation (an Ingress finding's backend ``service``, a pod finding's ``container``).
NAMES_IN_EVIDENCE = ("container", "image", "node", "replica_set", "secret", "selector", "service")


def placeholder_values(
    names: Iterable[str], obj: ObjectKey, evidence: Mapping[str, Any], fill: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The value of each of ``names`` a finding knows: ``fill`` first, then ``<name>``,
    ``<ns>``/``<namespace>`` and ``<kind>`` (``<pod>``, ``<service>``…) of its object, then the
    names of :data:`NAMES_IN_EVIDENCE`. Values are shell-quoted where needed (a selector with a set
    expression), as they land in commands. What no finding can know (which class to make the
    default) has no value and stays a placeholder for the reader to choose."""
    kind = obj.kind.lower()
    values: dict[str, str] = {}
    for name in names:
        value = fill.get(name) if fill else None
        if value is None:
            if name == "name" or name == kind:
                value = obj.name
            elif name in ("ns", "namespace"):
                value = obj.namespace or None
            elif name in NAMES_IN_EVIDENCE and isinstance(evidence.get(name), str | int):
                value = str(evidence[name])
        if value is not None:
            values[name] = shlex.quote(value)
    return values


def personalise(text: str, obj: ObjectKey, evidence: Mapping[str, Any], fill: Mapping[str, str] | None = None) -> str:
    """``text`` with the placeholders a finding knows filled in (:func:`placeholder_values`)."""
    names = _placeholders(text)
    return _substitute(text, placeholder_values(names, obj, evidence, fill)) if names else text


def _filled_step(step: Step, values: Mapping[str, str]) -> Step:
    text = _substitute(step.text, values)
    command = _substitute(step.command, values) if step.command else step.command
    return step if text is step.text and command is step.command else Step(text, command)


def _substitute(text: str, values: Mapping[str, str]) -> str:
    if "<" not in text:
        return text
    for name in _placeholders(text):
        if name in values:
            text = text.replace(f"<{name}>", values[name])
    return text


@functools.lru_cache(maxsize=1024)
def _placeholders(text: str) -> tuple[str, ...]:
    """The placeholders of one text, once per text (most findings of a run share a few texts)."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))
