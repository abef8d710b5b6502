"""``-l``: kubectl's selector strings, parsed and matched as the API server does, refused when it would."""

from __future__ import annotations

import pytest

from kubesteward.errors import UsageError
from kubesteward.model.scope import parse_label_selector
from kubesteward.model.semantics.selectors import parse_selector, selector_matches


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),  # a missing label is "not web"
        ("app!=web", {"app": "web"}, False),
        ("app in (a, b),!canary", {"app": "b"}, True),
        ("app in (a,b),!canary", {"app": "b", "canary": ""}, False),
        ("app notin (a,b)", {}, True),
        ("tier", {"tier": ""}, True),
        ("tier", {}, False),
        ("tier=", {"tier": ""}, True),
        ("example.com/role=db,  app = web ", {"example.com/role": "db", "app": "web"}, True),
        ("shard>2", {"shard": "3"}, True),
        ("shard<2", {"shard": "x"}, False),
    ],
)
def test_selector_strings_match_as_the_api_server_does(text: str, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(parse_selector(text), labels) is matches


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("===", "not a valid label key"),
        ("app in (a", "ends too early"),
        ("app in ()", "expected a value"),
        ("app in a", "in parentheses"),
        ("app=web,", "ends with ','"),
        ("a b", "unexpected 'b'"),
        ("a=b=c", "expected ','"),
        ("app=$$", "not a valid label value"),
        ("-app=x", "not a valid label key"),
        ("a/b/c=d", "not a valid label key"),
        ("Bad_Prefix.com/x=y", "not a valid label key"),
        ("x=" + "v" * 64, "not a valid label value"),
        ("shard>two", "needs an integer"),
        ("!", "ends too early"),
    ],
)
def test_invalid_selectors_are_usage_errors_that_say_why(text: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_label_selector(text)
    assert info.value.exit_code == 2
    assert why in str(info.value) and repr(text) in str(info.value)


def test_no_selector_is_none() -> None:
    assert parse_label_selector(None) is None and parse_label_selector("  ") is None
