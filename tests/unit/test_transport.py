"""The transport's pure parts: what an error says from a Status body and what a log line shows of a query.

The requests themselves are tested end to end (tests/e2e/test_cluster_access.py, test_writes.py).
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kubesteward.cluster.transport import loggable_query, status_causes, status_message

SSA_CONFLICT = json.dumps({
    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
    "message": 'Apply failed with 3 conflicts: conflicts with "a":\n- .data.x\n- .data.y\nconflicts with "b":\n- .data.z',
    "details": {"causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".data.x"}]},
}).encode()


def test_a_multi_line_status_message_keeps_every_line_on_one() -> None:
    assert status_message(SSA_CONFLICT, "Conflict") == (
        'Apply failed with 3 conflicts: conflicts with "a": .data.x, .data.y; conflicts with "b": .data.z'
    )
    assert status_message(b"<html>\nbad gateway\n</html>", "Bad Gateway") == "<html>"
    assert status_message(b"", "Bad Gateway") == "Bad Gateway"
    assert status_causes(SSA_CONFLICT) == [{"reason": "FieldManagerConflict", "message": 'conflict with "a"',
                                            "field": ".data.x"}]
    assert status_causes(b'{"details": {"causes": "not a list"}}') == []


def test_a_query_in_a_log_line_shows_only_how_it_reads() -> None:
    query = loggable_query({"limit": 500, "continue": "eyJydiI6MTIzfQ", "labelSelector": "app=web", "token": "s3cret"})
    assert query == "?limit=500&continue=***&labelSelector=app=web&token=***"
    assert loggable_query(None) == loggable_query({}) == ""


@given(st.binary(max_size=512) | st.recursive(st.none() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(
    st.sampled_from(["message", "details", "causes", "reason"]), inner), max_leaves=20).map(lambda v: json.dumps(v).encode()))
def test_any_answer_body_gives_one_line_and_a_list_of_causes(body: bytes) -> None:
    message = status_message(body, "reason")
    assert "\n" not in message and "\r" not in message
    assert isinstance(status_causes(body), list)


def test_a_body_nested_past_the_parser_s_depth_is_a_plain_message() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert status_message(deep, "Bad Request").startswith("[[[")
    assert status_causes(deep) == []
