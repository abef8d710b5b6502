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
from typing import Any, NamedTuple

from kubesteward.model.cluster import ObjectKey


class Step(NamedTuple):
    """One thing to do: ``text`` is a sentence without final punctuation ("Raise the memory
    limit"); ``command``, when there is one, carries it out as it stands. (A tuple: a finding
    builds a few, on the hot path only for broken objects, and a tuple is the cheapest to build.)"""

    text: str
    command: str | None = None

    def rendered(self) -> str:
        """The step as one line of text: ``sentence: `command```."""
        return f"{self.text}: `{self.command}`" if self.command else self.text

    def document(self) -> dict[str, str | None]:
        return {"text": self.text, "command": self.command}


class Remediation:
    """The steps of a remediation, most useful first (the table view shows only the first).

    Immutable. A personalised remediation fills its placeholders when its steps are first read,
    not when its finding is made: analyzers make findings on the hot path, and most outputs read
    the steps of a few (the table, those of the incidents' headlines)."""

    __slots__ = ("_steps", "_pending", "_text", "_placeholders")

    def __init__(self, steps: tuple[Step, ...]) -> None:
        if not steps:
            raise ValueError("a remediation has at least one step")
        self._steps = steps
        self._pending: tuple[ObjectKey, Mapping[str, Any], Mapping[str, str] | None] | None = None
        self._text: str | None = None
        self._placeholders: tuple[str, ...] | None = None

    @property
    def steps(self) -> tuple[Step, ...]:
        pending = self._pending
        if pending is not None:
            # Filled before the pending mark is dropped: a concurrent reader fills them again, the same.
            names = self._placeholders if self._placeholders is not None else _all_placeholders(self._steps)
            self._steps = _filled(self._steps, names, *pending)
            self._pending = None
            self._placeholders = None
        return self._steps

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Remediation) and other.steps == self.steps

    def __hash__(self) -> int:
        return hash(self.steps)

    def __repr__(self) -> str:
        return f"Remediation({self.steps!r})"

    @property
    def first(self) -> Step:
        return self.steps[0]

    @property
    def text(self) -> str:
        """Every step as a line of a Markdown-style list (the ``remediation`` text of every format)."""
        if self._text is None:
            self._text = "\n".join(f"- {step.rendered()}" for step in self.steps)
        return self._text

    def documents(self) -> list[dict[str, str | None]]:
        return [step.document() for step in self.steps]

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The ``<placeholders>`` its steps (filled, if personalised) still hold; found once per
        remediation (most findings share a catalogue one: :func:`define` finds its placeholders)."""
        if self._placeholders is None or self._pending is not None:
            self._placeholders = _all_placeholders(self.steps)
        return self._placeholders

    def led_by(self, step: Step, *, replacing_first: bool = False) -> Remediation:
        """These steps led by ``step``, one naming the finding's own objects (the table view shows
        only the first step, so it must be the concrete one). ``replacing_first``: ``step`` is the
        first step made concrete, which it replaces (filled, both would say the same)."""
        return Remediation((step, *(self.steps[1:] if replacing_first else self.steps)))

    def personalised(
        self, obj: ObjectKey, evidence: Mapping[str, Any], fill: Mapping[str, str] | None = None
    ) -> Remediation:
        """These steps with the placeholders a finding knows filled in (:func:`placeholder_values`),
        when they are first read."""
        if self._pending is None and self._placeholders == ():
            return self  # known to need nothing filled
        out = Remediation(self.steps)
        out._placeholders = self._placeholders
        out._pending = (obj, evidence, fill)
        return out


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
    if not names:
        return text
    values = placeholder_values(names, obj, evidence, fill)
    return _substitute(text, {f"<{name}>": value for name, value in values.items()})


def _filled(
    steps: tuple[Step, ...], names: tuple[str, ...], obj: ObjectKey, evidence: Mapping[str, Any],
    fill: Mapping[str, str] | None,
) -> tuple[Step, ...]:
    values = placeholder_values(names, obj, evidence, fill) if names else None
    if not values:
        return steps
    tokens = {f"<{name}>": value for name, value in values.items()}
    return tuple(_filled_step(step, tokens) for step in steps)


def _filled_step(step: Step, tokens: Mapping[str, str]) -> Step:
    text, command = step
    if "<" not in text and (command is None or "<" not in command):
        return step
    return Step(_substitute(text, tokens), _substitute(command, tokens) if command else command)


def _step_placeholders(step: Step) -> tuple[str, ...]:
    text, command = step
    names = _placeholders(text) if "<" in text else ()
    return names + _placeholders(command) if command and "<" in command else names


def _all_placeholders(steps: Iterable[Step]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for step in steps:
        names.update(dict.fromkeys(_step_placeholders(step)))
    return tuple(names)


def _substitute(text: str, tokens: Mapping[str, str]) -> str:
    """``text`` with each ``<token>`` of ``tokens`` replaced by its value."""
    if "<" not in text:
        return text
    for token, value in tokens.items():
        if token in text:
            text = text.replace(token, value)
    return text


@functools.lru_cache(maxsize=1024)
def _placeholders(text: str) -> tuple[str, ...]:
    """The placeholders of one text, once per text (most findings of a run share a few texts)."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))
