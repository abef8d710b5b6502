"""Silence matchers (Alertmanager semantics), silence windows and durations."""

from __future__ import annotations

import datetime as dt

import pytest

from kubesteward.durations import parse_duration
from kubesteward.errors import UsageError
from kubesteward.notifications.silences import Matcher, Silence, silenced_by

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
LABELS = {"alertname": "KS101", "severity": "error", "context": "prod", "namespace": "shop", "kind": "Deployment",
          "name": "web"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("namespace=shop", Matcher("namespace", "=", "shop")),
        ("alertname=~KS1.*", Matcher("alertname", "=~", "KS1.*")),
        ('name!="web"', Matcher("name", "!=", "web")),
        ("severity!~info|warning", Matcher("severity", "!~", "info|warning")),
        (" kind = Node ", Matcher("kind", "=", "Node")),
        ('name="a \\"quoted\\" = value"', Matcher("name", "=", 'a "quoted" = value')),
        ("namespace=", Matcher("namespace", "=", "")),
        ("name==x", Matcher("name", "=", "=x")),  # the first operator wins; the rest is the value
    ],
)
def test_matcher_parse(text: str, expected: Matcher) -> None:
    assert Matcher.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("namespace", "bad matcher"),
        ("=shop", "bad matcher"),
        ("name space=x", "bad matcher"),
        ('name="unterminated', "quoted value"),
        ("alertname=~KS(1", "bad regular expression"),
        ("namspace=shop", "unknown label 'namspace'"),
    ],
)
def test_matcher_parse_errors_are_usage_errors(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as caught:
        Matcher.parse(text)
    assert needle in str(caught.value) and caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_matcher_semantics_are_alertmanagers() -> None:
    assert Matcher.parse("namespace=shop").matches(LABELS)
    assert not Matcher.parse("namespace=sho").matches(LABELS)
    assert Matcher.parse("namespace!=db").matches(LABELS)
    # Regexes are fully anchored: "KS1" alone does not match "KS101", and a prefix needs ".*".
    assert not Matcher.parse("alertname=~KS1").matches(LABELS)
    assert Matcher.parse("alertname=~KS1.*").matches(LABELS)
    assert Matcher.parse("alertname=~KS101|KS999").matches(LABELS)  # alternation anchored as a whole
    assert not Matcher("alertname", "=~", "KS101").matches({"alertname": "KS101\n"})  # no "$ before newline"
    assert Matcher.parse("severity!~info|warning").matches(LABELS)
    # A missing label is the empty string.
    assert Matcher.parse("namespace=").matches({"kind": "Node"})
    assert Matcher.parse("namespace!=shop").matches({})
    assert Matcher.parse("namespace=~|shop").matches({})
    assert not Matcher.parse("namespace=~.+").matches({})


def test_matcher_str_round_trips() -> None:
    for text in ("namespace=shop", 'name!="we\\"ird"', "alertname=~KS1.*"):
        matcher = Matcher.parse(text)
        assert Matcher.parse(str(matcher)) == matcher
        assert Matcher.from_json(matcher.to_json()) == matcher
    assert str(Matcher.parse("alertname=~KS1.*")) == 'alertname=~"KS1.*"'


def silence(*matchers: str, start: float = 0, hours: float = 1, sid: str = "s") -> Silence:
    starts = T0 + dt.timedelta(hours=start)
    return Silence(sid, tuple(Matcher.parse(m) for m in matchers), starts, starts + dt.timedelta(hours=hours),
                   "alice", "")


def test_silence_window_and_status() -> None:
    s = silence("namespace=shop")
    assert not s.active(T0 - dt.timedelta(seconds=1)) and s.status(T0 - dt.timedelta(seconds=1)) == "pending"
    assert s.active(T0) and s.status(T0) == "active"  # starts inclusive
    assert s.active(T0 + dt.timedelta(minutes=59, seconds=59))
    assert not s.active(T0 + dt.timedelta(hours=1)) and s.status(T0 + dt.timedelta(hours=1)) == "expired"  # ends exclusive


def test_silence_matches_only_when_every_matcher_does() -> None:
    assert silence("namespace=shop", "kind=Deployment").matches(LABELS)
    assert not silence("namespace=shop", "kind=Node").matches(LABELS)


def test_silenced_by_picks_the_active_match_that_ends_last() -> None:
    short = silence("namespace=shop", hours=1, sid="short")
    long = silence("alertname=~KS.*", hours=5, sid="long")
    later = silence("namespace=shop", start=2, hours=10, sid="later")  # not started yet
    other = silence("namespace=db", hours=24, sid="other")  # does not match
    silences = [short, long, later, other]
    assert silenced_by(silences, LABELS, T0 + dt.timedelta(minutes=5)) is long
    assert silenced_by(silences, LABELS, T0 + dt.timedelta(hours=3)) is later
    assert silenced_by(silences, {**LABELS, "namespace": "db"}, T0) is other
    assert silenced_by(silences, {"namespace": "web"}, T0) is None
    assert silenced_by([], LABELS, T0) is None


@pytest.mark.parametrize(
    ("candidate", "needle"),
    [
        (Silence("", (), T0, T0 + dt.timedelta(hours=1), "a", ""), "at least one matcher"),
        (silence("namespace=shop", hours=0), "end after it starts"),
        (silence("namespace!=shop", "name=~.*"), "mute everything"),
        (Silence("", (Matcher.parse("name=x"),), dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), "a", ""),
         "timezone-aware"),
    ],
)
def test_silence_validation(candidate: Silence, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        candidate.validate()


def test_silence_json_round_trip() -> None:
    s = silence("namespace=shop", 'name!~"web-.*"', sid="abc12345")
    doc = s.to_json()
    assert doc["startsAt"] == "2026-05-01T12:00:00Z" and doc["matchers"][1] == {"name": "name", "op": "!~",
                                                                                 "value": "web-.*"}
    assert Silence.from_json(doc) == s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1w", 604800), ("1.5h", 5400),
     ("500ms", 0.5), (" 2h ", 7200), ("1d2h3m4s", 93784)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "-1h", "1h 30m", "0s", "0h0m", "1h30", "ten minutes"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_zero_durations_only_where_they_mean_none() -> None:
    from kubesteward.durations import DurationError, parse_seconds

    assert parse_seconds("0s", allow_zero=True) == 0 == parse_seconds("0", allow_zero=True)
    assert parse_seconds("1m30s", allow_zero=True) == 90
    with pytest.raises(DurationError):
        parse_seconds("0s")
    with pytest.raises(ValueError):  # library callers may catch the ValueError side
        parse_seconds("-5s", allow_zero=True)
