"""``kubesteward silence add|list|expire``: mute alerts of ``kubesteward watch`` for a while.

Silences live in the watch state store, so a running daemon (another
process, maybe another machine with PostgreSQL) sees them on its next cycle.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from kubesteward.checks.evidence import human_duration
from kubesteward.cli import options as opt
from kubesteward.cli.output import check_format, emit_machine, escape
from kubesteward.cli.state import STATE
from kubesteward.durations import parse_duration
from kubesteward.errors import NotFound, UsageError
from kubesteward.notifications.silences import Matcher, Silence
from kubesteward.notifications.types import LABEL_NAMES

if TYPE_CHECKING:
    from kubesteward.state import StateStore

app = typer.Typer(
    help="Mute alerts of `kubesteward watch` for a while, with Alertmanager-style label matchers.",
    no_args_is_help=True,
)

DEFAULT_DURATION = "1h"  # amtool's default


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.command()
def add(
    matchers: Annotated[
        list[str],
        typer.Argument(
            help=f"LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX (all must match). "
            f"Labels: {', '.join(LABEL_NAMES)}.",
            metavar="MATCHER...",
            show_default=False,
        ),
    ],
    duration: Annotated[
        str | None,
        typer.Option("--duration", "-d", help=f"How long, e.g. 90s, 15m, 2h, 1d, 1h30m (default {DEFAULT_DURATION})."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="End time, ISO 8601, e.g. 2026-11-23T10:00Z (UTC unless an offset is given)."),
    ] = None,
    comment: Annotated[
        str, typer.Option("--comment", "-c", help="Why (shown to whoever wonders where the alerts went).")
    ] = "",
    author: Annotated[str | None, typer.Option("--author", help="Who (default $USER).")] = None,
    state: opt.StateUrl = None,
    output: opt.Output = "table",
) -> None:
    """Silence alerts matching every MATCHER, starting now; prints the new silence's id."""
    fmt = check_format(output)
    parsed = tuple(Matcher.parse(text) for text in matchers)
    now = _now()
    if duration is not None and until is not None:
        raise UsageError("give --duration or --until, not both")
    ends = _parse_until(until, now) if until is not None else now + parse_duration(duration or DEFAULT_DURATION)
    silence = Silence(
        id="", matchers=parsed, starts_at=now, ends_at=ends, created_by=author or _user(), comment=comment
    )
    silence.validate()  # before touching the store: a usage mistake should not depend on the database
    with _open(state) as store:
        created = store.add_silence(silence)
    if fmt == "table":
        print(created.id)
        until = created.ends_at.strftime("%Y-%m-%d %H:%M UTC")
        STATE.note(f"silenced {' '.join(map(str, created.matchers))} until {until}")
    else:
        emit_machine(_document(created, now), fmt)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include expired silences.")] = False,
    state: opt.StateUrl = None,
    output: opt.Output = "table",
) -> None:
    """Active and pending silences (--all: expired ones too)."""
    fmt = check_format(output)
    now = _now()
    with _open(state) as store:
        found = store.silences(now, include_expired=all_)
    if fmt != "table":
        emit_machine([_document(silence, now) for silence in found], fmt)
        return
    if not found:
        STATE.note("no silences" if all_ else "no active silences (--all shows expired ones)")
        return
    table = Table(box=None, pad_edge=False)
    # Ids and times never wrap (they are copied and compared); free text folds into what is left of the width.
    # (No min_width/ratio: rich then crops words instead of folding them.)
    table.add_column("ID", no_wrap=True)
    table.add_column("MATCHERS", overflow="fold")
    table.add_column("STARTS (UTC)", no_wrap=True)
    table.add_column("ENDS (UTC)", no_wrap=True)
    table.add_column("AUTHOR", overflow="fold")
    table.add_column("COMMENT", overflow="fold")
    for silence in found:
        table.add_row(
            escape(silence.id),
            escape("\n".join(map(str, silence.matchers))),  # one matcher per line: they are ANDed
            _when(silence.starts_at, now),
            f"{_when(silence.ends_at, now)}\n{_remaining(silence, now)}",
            escape(silence.created_by),
            escape(silence.comment),
        )
    STATE.out.print(table)  # scripts: -o json|yaml


@app.command()
def expire(
    silence_id: Annotated[str, typer.Argument(metavar="ID", help="The silence's id (see `silence list`).")],
    state: opt.StateUrl = None,
) -> None:
    """End a silence now; its alerts notify again from the watch's next cycle."""
    with _open(state) as store:
        if not store.expire_silence(silence_id, _now()):
            raise NotFound(f"no active or pending silence with id {silence_id!r} (see `kubesteward silence list`)")
    STATE.note(f"silence {silence_id} expired")


def _open(state: str | None) -> StateStore:
    # Imported here: SQLAlchemy costs startup time that every other command would pay for nothing.
    from kubesteward.state import StateStore

    return StateStore.open(state)


def _parse_until(text: str, now: dt.datetime) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"bad --until {text!r}: use ISO 8601, e.g. 2026-11-23T10:00Z") from None
    # A bare time is read as UTC, not the local zone: the daemon and the CLI may run in different zones.
    value = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if value <= now:
        raise UsageError(f"--until {text} is not in the future")
    return value.astimezone(dt.UTC)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no $USER and no passwd entry (some containers)
        return "unknown"


def _when(value: dt.datetime, now: dt.datetime) -> str:
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%m-%d %H:%M" if utc.year == now.year else "%Y-%m-%d %H:%M")


def _remaining(silence: Silence, now: dt.datetime) -> str:
    """How long it still mutes; the state (pending, expired) when it does not mute now."""
    status = silence.status(now)
    if status == "expired":
        return f"[dim]expired {human_duration((now - silence.ends_at).total_seconds())} ago[/]"
    if status == "pending":
        return f"[yellow]starts in {human_duration((silence.starts_at - now).total_seconds())}[/]"
    return f"[green]{human_duration((silence.ends_at - now).total_seconds())} left[/]"


def _document(silence: Silence, now: dt.datetime) -> dict[str, Any]:
    return {**silence.to_json(), "status": silence.status(now)}
