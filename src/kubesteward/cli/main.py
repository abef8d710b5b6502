"""The ``kubesteward`` (and ``kubectl steward``) command line: a thin layer over the library."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape

from kubesteward import __version__
from kubesteward.cli import diagnose, sandbox, silence, status, watch
from kubesteward.cli.state import STATE
from kubesteward.errors import EXIT_CODES, KubestewardError

app = typer.Typer(
    name="kubesteward",
    help="Kubernetes operations engine: diagnose, watch, drift, policy, heal - across many clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("diagnose")(diagnose.diagnose)
app.command("snapshot")(diagnose.snapshot)
app.command("explain")(diagnose.explain)
app.command("status")(status.status)
app.command("watch")(watch.watch)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(silence.app, name="silence")


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
    """Console-script entry: every expected failure is one line on stderr and a documented exit code."""
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
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            STATE.err.print(f"[red]error[/]: {escape(str(exc))}", highlight=False)
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


def _prog_name() -> str:
    name = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "kubesteward"
    return "kubectl steward" if name == "kubectl-steward" else "kubesteward"


if __name__ == "__main__":
    run()
