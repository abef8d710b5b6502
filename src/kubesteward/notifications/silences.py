"""Silences: Alertmanager-compatible label matchers with a time window.

A silence mutes notifications for every alert whose labels match all of its
matchers while it is active. The syntax and semantics follow Alertmanager
(``name=value``, ``!=``, ``=~``, ``!~``; regexes fully anchored; a missing
label is the empty string) so that operators can reuse what they know.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from kubesteward.errors import UsageError
from kubesteward.notifications.types import LABEL_NAMES, iso, parse_iso

MatchOp = Literal["=", "!=", "=~", "!~"]
# Longest operators first so "=~" is not read as "=" followed by a value starting with "~".
_OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        # Validated here (not only in parse) so a matcher built in code or read back from the store
        # can never blow up later inside matches().
        if self.name not in LABEL_NAMES:
            # Alertmanager accepts any label name; ours is a bounded set, so an unknown name is a typo
            # that would silently silence nothing (or, with "!=", everything).
            raise UsageError(f"unknown label {self.name!r} in matcher; labels: {', '.join(LABEL_NAMES)}")
        if self.op not in _OPS:
            raise UsageError(f"unknown matcher operator {self.op!r}; use one of: {' '.join(_OPS)}")
        if self.op in ("=~", "!~"):
            try:
                _regex(self.value)
            except re.error as exc:
                raise UsageError(f"bad regular expression {self.value!r} in matcher {self.name}: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``namespace=shop``, ``alertname=~KS1.*``, ``name!="web"`` (quoted values use JSON/Go escapes)."""
        found = _MATCHER.match(text)
        if found is None:
            raise UsageError(f"bad matcher {text!r}: expected LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX")
        name, op, value = found.groups()
        if value.startswith('"') or value.endswith('"'):
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = None
            if not isinstance(decoded, str):
                raise UsageError(f"bad matcher {text!r}: unterminated or invalid quoted value")
            value = decoded
        return cls(name, cast(MatchOp, op), value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = _regex(self.value).fullmatch(actual) is not None  # anchored, like Alertmanager's ^(?:re)$
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matcher:
        return cls(str(data["name"]), cast(MatchOp, data["op"]), str(data["value"]))


@dataclass(frozen=True)
class Silence:
    id: str  # empty until the store assigns one
    matchers: tuple[Matcher, ...]
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_by: str
    comment: str

    def active(self, now: dt.datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def expired(self, now: dt.datetime) -> bool:
        return self.ends_at <= now

    def status(self, now: dt.datetime) -> Literal["active", "pending", "expired"]:
        """Alertmanager's three silence states."""
        if self.expired(now):
            return "expired"
        return "active" if self.active(now) else "pending"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def validate(self) -> None:
        """Refuse silences that are mistakes (Alertmanager's rules); raises UsageError."""
        if not self.matchers:
            raise UsageError("a silence needs at least one matcher")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise UsageError("silence start and end must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise UsageError("a silence must end after it starts")
        if all(m.matches({}) for m in self.matchers):
            # e.g. only "namespace!=x" or "name=~.*": it would mute alerts that lack every label, i.e. everything.
            raise UsageError(
                "at least one matcher must not match the empty string (this silence would mute everything)"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        starts, ends = parse_iso(data["startsAt"]), parse_iso(data["endsAt"])
        assert starts is not None and ends is not None
        return cls(
            id=str(data.get("id", "")),
            matchers=tuple(Matcher.from_json(m) for m in data["matchers"]),
            starts_at=starts,
            ends_at=ends,
            created_by=str(data.get("createdBy", "")),
            comment=str(data.get("comment", "")),
        )


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str], now: dt.datetime) -> Silence | None:
    """The active silence that mutes these labels, if any.

    When several match, the one that ends last wins: it is the one that decides how long the alert stays
    muted, which is what a "silenced until …" line should say.
    """
    matching = [s for s in silences if s.active(now) and s.matches(labels)]
    return max(matching, key=lambda s: (s.ends_at, s.id)) if matching else None


