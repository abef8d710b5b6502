"""Label selector semantics, exactly as the API server applies them.

- ``LabelSelector`` (Deployments, PDBs, NetworkPolicies): every matchLabels
  pair and every matchExpressions requirement must hold. An empty selector
  ``{}`` matches everything; a missing (None) selector matches nothing.
- A Service selector is a plain map; an empty or missing one selects nothing
  (the Service's endpoints are then managed by hand).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from kubesteward.model.objects import LabelSelector, LabelSelectorRequirement


def requirement_matches(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    op = req.operator
    values = req.values or []
    if op == "In":
        return req.key in labels and labels[req.key] in values
    if op == "NotIn":
        return req.key not in labels or labels[req.key] not in values
    if op == "Exists":
        return req.key in labels
    if op == "DoesNotExist":
        return req.key not in labels
    if op in ("Gt", "Lt") and req.key in labels:  # only from the string form (`-l 'tier>2'`)
        try:
            have, want = int(labels[req.key]), int(values[0])
        except (ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    return False  # unknown operators never match (the API rejects them anyway)


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.matchLabels or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(req, labels) for req in selector.matchExpressions or ())


def selector_from(data: Any) -> LabelSelector | None:
    """A ``LabelSelector`` of a full object (plain data) as the slim struct the matchers take;
    None when absent or malformed (matching nothing, as the API server would never admit it)."""
    if not isinstance(data, Mapping):
        return None
    try:
        return msgspec.convert(data, LabelSelector, strict=False)
    except msgspec.ValidationError:
        return None


def map_selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def selector_is_empty(selector: LabelSelector | None) -> bool:
    return selector is not None and not selector.matchLabels and not selector.matchExpressions


def format_selector(selector: LabelSelector | Mapping[str, str] | None) -> str:
    """``app=web,tier in (a,b)``: kubectl's notation, for evidence."""
    if selector is None:
        return "<none>"
    if not isinstance(selector, LabelSelector):
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<empty>"
    parts = [f"{k}={v}" for k, v in sorted((selector.matchLabels or {}).items())]
    for req in selector.matchExpressions or ():
        if req.operator in ("In", "NotIn"):
            parts.append(f"{req.key} {req.operator.lower()} ({','.join(req.values or [])})")
        elif req.operator == "Exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts) or "<empty>"


# The string form of a selector (``kubectl -l``), as apimachinery's labels.Parse reads it.
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_TOKEN = re.compile(r"\s*(!=|==|=|!|,|\(|\)|<|>|[^\s!=,()<>]+)\s*")
_OPERATORS = {"=": "In", "==": "In", "!=": "NotIn", "in": "In", "notin": "NotIn", "<": "Lt", ">": "Gt"}
_PUNCTUATION = frozenset({",", "(", ")", "!", "=", "==", "!=", "<", ">"})


class _Tokens:
    def __init__(self, text: str) -> None:
        self.text = text
        self.items = [found.group(1) for found in _TOKEN.finditer(text)]
        self.position = 0

    def peek(self) -> str | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.error("it ends too early")
        self.position += 1
        return token

    def error(self, why: str) -> ValueError:
        return ValueError(f"invalid label selector {self.text!r}: {why}")


def parse_selector(text: str) -> LabelSelector:
    """``app=web,tier in (a,b),!canary`` into a :class:`LabelSelector` (every term a
    requirement); ``ValueError`` saying what is wrong, as the API server would refuse it."""
    tokens = _Tokens(text)
    requirements: list[LabelSelectorRequirement] = []
    while tokens.peek() is not None:
        requirements.append(_requirement(tokens))
        following = tokens.peek()
        if following is not None:
            if following != ",":
                raise tokens.error(f"expected ',' before {following!r}")
            tokens.take()
            if tokens.peek() is None:
                raise tokens.error("it ends with ','")
    return LabelSelector(matchExpressions=requirements)


def _requirement(tokens: _Tokens) -> LabelSelectorRequirement:
    first = tokens.take()
    if first == "!":
        return LabelSelectorRequirement(_key(tokens.take(), tokens), "DoesNotExist")
    key = _key(first, tokens)
    symbol = tokens.peek()
    if symbol in (None, ","):
        return LabelSelectorRequirement(key, "Exists")
    tokens.take()
    operator = _OPERATORS.get(str(symbol))
    if operator is None:
        raise tokens.error(f"unexpected {symbol!r} after {key!r}")
    if symbol in ("in", "notin"):
        return LabelSelectorRequirement(key, operator, _value_list(tokens))
    if symbol in ("<", ">"):
        number = tokens.take()
        if not re.fullmatch(r"-?[0-9]+", number):
            raise tokens.error(f"{symbol} needs an integer, not {number!r}")
        return LabelSelectorRequirement(key, operator, [number])
    following = tokens.peek()
    value = "" if following in (None, ",") else tokens.take()  # `tier=`: the empty value
    return LabelSelectorRequirement(key, operator, [_value(value, tokens)])


def _value_list(tokens: _Tokens) -> list[str]:
    if tokens.take() != "(":
        raise tokens.error("'in' and 'notin' need a list of values in parentheses")
    values: list[str] = []
    while True:
        token = tokens.take()
        if token in _PUNCTUATION:
            raise tokens.error(f"expected a value, found {token!r}")
        values.append(_value(token, tokens))
        closing = tokens.take()
        if closing == ")":
            return values
        if closing != ",":
            raise tokens.error(f"expected ',' or ')' in a list of values, found {closing!r}")


def _key(token: str, tokens: _Tokens) -> str:
    prefix, slash, name = token.rpartition("/")
    valid = (
        0 < len(name) <= 63 and _NAME.fullmatch(name) is not None
        and (not slash or (0 < len(prefix) <= 253 and _PREFIX.fullmatch(prefix) is not None))
    )
    if not valid:
        raise tokens.error(f"{token!r} is not a valid label key")
    return token


def _value(token: str, tokens: _Tokens) -> str:
    if token and (len(token) > 63 or _NAME.fullmatch(token) is None):
        raise tokens.error(f"{token!r} is not a valid label value")
    return token
