"""``kubesteward history``: the audit trail of ``sync`` and self-heal, newest first, from the state store."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kubesteward.cli import options as opt
from kubesteward.cli.output import check_format, emit_machine, escape
from kubesteward.cli.state import STATE

if TYPE_CHECKING:
    from kubesteward.state import AuditEntry

_SHORT_REVISION = 12  # as a Git source's label shows its commit (GitCheckout.short)
_OUTCOME_COLOURS = {"ok": "green", "failed": "red"}


def _at_least_one(value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"must be at least 1, not {value}")
    return value


def history(
    app: Annotated[str | None, typer.Option("--app", help="Only this application's entries (sync's --app).")] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="How many entries, newest first.", callback=_at_least_one)
    ] = 50,
    state: opt.StateUrl = None,
    output: opt.Output = "table",
) -> None:
    """What sync and self-heal did to clusters, newest first: when, which app and context, the action on which
    object, from which Git commit, and how it went."""
    fmt = check_format(output)
    # Imported here: SQLAlchemy costs startup time that every other command would pay for nothing.
    from kubesteward.state import StateStore

    with StateStore.open(state) as store:
        entries = store.audit_entries(app=app, limit=limit)
    if fmt != "table":
        emit_machine([entry.document() for entry in entries], fmt)
        return
    if not entries:
        where = f" for app {escape(app, one_line=True)}" if app is not None else ""
        STATE.note(f"no entry in the audit trail{where} ({escape(store.url, one_line=True)})")
        return
    out = STATE.out
    if out.is_terminal:
        out.print(_table(entries))
        return
    # Piped, as kubectl's tables: every column whole on one line (a pipe has no width; rich would assume 80).
    width, out.width = out.width, _PIPED_WIDTH
    try:
        out.print(_table(entries))
    finally:
        out.width = width


_PIPED_WIDTH = 10_000


def _table(entries: list[AuditEntry]) -> Table:
    table = Table(box=None, pad_edge=False)
    # Times, names, objects and revisions never wrap (they are copied and compared); the detail folds into what
    # is left.
    table.add_column("TIME (UTC)", no_wrap=True)
    table.add_column("APP", no_wrap=True)
    table.add_column("CONTEXT", no_wrap=True)
    table.add_column("ACTION", no_wrap=True)
    table.add_column("OBJECT", no_wrap=True)
    table.add_column("REVISION", no_wrap=True)
    table.add_column("OUTCOME", no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for entry in entries:
        colour = _OUTCOME_COLOURS.get(entry.outcome, "yellow")
        table.add_row(
            entry.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            escape(entry.app, one_line=True),
            escape(entry.context, one_line=True),
            escape(entry.action + (" (dry run)" if entry.dry_run else ""), one_line=True),
            escape(entry.object, one_line=True),
            escape(entry.revision[:_SHORT_REVISION], one_line=True) or "-",
            f"[{colour}]{escape(entry.outcome, one_line=True)}[/]",
            escape(entry.detail, one_line=True),
        )
    return table
