"""The ``kubesteward`` (and ``kubectl steward``) command line: a thin layer over the library."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from kubesteward import __version__
from kubesteward.cli.output import escape
from kubesteward.cli.state import STATE
from kubesteward.errors import EXIT_CODES, KubestewardError

# Each command's module is imported only when that command runs (or for the
# root help): every start would otherwise pay for all of them (SQLAlchemy for
# `watch`, the analyzers and reports for `diagnose`), time `diagnose` spends
# listing instead. Values: (module, attribute: a function or a Typer).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "diagnose": ("kubesteward.cli.diagnose", "diagnose"),
    "audit": ("kubesteward.cli.audit", "audit"),
    "drift": ("kubesteward.cli.drift", "drift"),
    "sync": ("kubesteward.cli.sync", "sync_command"),
    "history": ("kubesteward.cli.history", "history"),
    "snapshot": ("kubesteward.cli.diagnose", "snapshot"),
    "explain": ("kubesteward.cli.diagnose", "explain"),
    "lint": ("kubesteward.cli.lint", "lint"),
    "status": ("kubesteward.cli.status", "status"),
    "watch": ("kubesteward.cli.watch", "watch"),
    "sandbox": ("kubesteward.cli.sandbox", "app"),
    "silence": ("kubesteward.cli.silence", "app"),
    "webhook": ("kubesteward.cli.webhook", "app"),
    "rbac": ("kubesteward.cli.rbac", "app"),
}


@contextlib.contextmanager
def _system_ca_bundle_unread() -> Iterator[None]:
    """While importing a command: OpenSSL's default CA file is an empty file.

    aiohttp builds two default TLS contexts when it is imported, and each reads
    the system CA bundle, a visible share of the time before a command's first
    request (docs/performance.md). kubesteward never uses them:
    every cluster connection gets its own context from the kubeconfig
    (``cluster.transport.ssl_context``), every alert sink its own from the
    system store when it first sends, both built later, with the
    environment restored. This fails closed: anything that did use aiohttp's defaults
    would trust no certificate, never more. Only the CLI does this; the
    library leaves the process's environment alone. Nothing else runs while
    a command is imported (one thread, before the event loop).
    """
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = os.devnull
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved


def _load_command(name: str) -> Any:
    module, attribute = LAZY_COMMANDS[name]
    with _system_ca_bundle_unread():
        imported = importlib.import_module(module)
    target: typer.Typer | Callable[..., Any] = getattr(imported, attribute)
    # Built as the root's only child so it gets no shell-completion options of its own.
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
        return typer.main.get_group(holder).commands[name]
    holder.command(name)(target)
    return typer.main.get_command(holder)


class LazyGroup(TyperGroup):
    """The root command group, resolving subcommands from :data:`LAZY_COMMANDS` on demand."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            self.add_command(_load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="kubesteward",
    cls=LazyGroup,
    # Names the commands that exist, every one (tests/unit/test_cli_help.py): add a command here when it lands.
    help="Kubernetes operations engine, across many clusters: diagnose, audit, lint, drift, sync, snapshot, explain,"
    " status, watch, silence, history, rbac, webhook, sandbox, exit-codes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"kubesteward {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True, help="More detail (-vv: HTTP requests).")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only results and errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    STATE.verbosity = -1 if quiet else verbose
    STATE.configure_logging()


@app.command("exit-codes")
def exit_codes() -> None:
    """List the documented exit codes."""
    for code, meaning in EXIT_CODES.items():
        print(f"{code:>4}  {meaning}")


def run(argv: list[str] | None = None) -> None:
    """Console-script entry: every expected failure is one line on stderr and a documented exit code.

    Everything the command prints, its log lines included, leaves through
    :func:`kubesteward.redaction.scrub` (see :func:`_scrubbed_streams`).
    """
    with _scrubbed_streams():
        _run(argv)


@contextlib.contextmanager
def _scrubbed_streams() -> Iterator[None]:
    """stdout and stderr wrapped in :class:`ScrubbingStream` while a command runs: the one exit of
    the CLI's text, whoever writes it (our views, rich, a library's log line)."""
    from kubesteward.redaction import ScrubbingStream

    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, ScrubbingStream):
        sys.stdout = ScrubbingStream(sys.stdout)
    if not isinstance(sys.stderr, ScrubbingStream):
        sys.stderr = ScrubbingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _run(argv: list[str] | None) -> None:
    try:
        result = app(args=argv, standalone_mode=False, prog_name=_prog_name())
    except KubestewardError as exc:
        first, _, detail = str(exc).partition("\n")
        STATE.err.print(f"[red]error[/]: {escape(first)}", highlight=False, soft_wrap=True)
        if detail and STATE.verbosity > 0:
            STATE.err.print(escape(detail), highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown flag, bad value, missing argument
        # One line, as every other error: the usage block is what --help is for.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        STATE.err.print(
            f"[red]error[/]: {escape(exc.format_message())}{escape(hint)}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        STATE.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line unless -v asks for the traceback
        if STATE.verbosity > 0:
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else ""
        STATE.err.print(
            f"[red]internal error[/]: {type(exc).__name__}: {escape(message)} (rerun with -v for details)",
            highlight=False,
        )
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)


def main() -> NoReturn:
    """The process entry (console scripts, ``python -m kubesteward``): :func:`run`, then a quick exit.

    Exit hooks run and output is flushed, but the interpreter is not torn
    down object by object: after a big diagnosis that teardown is a
    noticeable part of the command's wall time and serves nothing.
    """
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:
        code = 0
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass  # the reader closed the pipe (`| head`): it chose to stop reading
    atexit._run_exitfuncs()  # e.g. the kubeconfig loader's temporary certificate files
    os._exit(code)


def _prog_name() -> str:
    name = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "kubesteward"
    return "kubectl steward" if name == "kubectl-steward" else "kubesteward"


if __name__ == "__main__":
    main()
