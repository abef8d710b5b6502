"""Process-wide CLI settings set by the root callback (verbosity, consoles)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kubesteward.terminal import neutralise

if TYPE_CHECKING:
    from rich.console import Console
    from rich.logging import RichHandler

# rich is imported when something is first printed or logged, not at every
# start: its import delays a command's first request, and `-o json` runs that
# log nothing never need it.


class Status(Protocol):
    def update(self, status: str) -> None: ...


class _Silent:
    def update(self, status: str) -> None:
        pass


class _RichOnFirstRecord(logging.Handler):
    """Hands log records to rich's handler, created when the first one arrives."""

    def __init__(self, state: CliState) -> None:
        super().__init__()
        self._state = state
        self._rich: RichHandler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            # markup=False (its default, said here because it matters): a log line quoting a cluster's
            # string must not be read as rich markup.
            self._rich = RichHandler(console=self._state.err, show_path=False, show_time=False, markup=False)
            self._rich.setFormatter(self.formatter or logging.Formatter("%(message)s"))
        # Log lines quote cluster strings (event messages, errors): their control characters made visible.
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = neutralise(record.getMessage()), None
        self._rich.emit(safe)


@dataclass
class CliState:
    verbosity: int = 0  # -1 quiet, 0 normal, 1 -v, 2 -vv
    # Results kept until the process exits: the CLI ends with os._exit, so
    # freeing a big cluster model object by object when a command returns
    # would be time spent on nothing.
    retained: list[Any] = field(default_factory=list)
    _consoles: dict[bool, Console] = field(default_factory=dict, repr=False)

    @property
    def out(self) -> Console:
        return self._console(stderr=False)

    @property
    def err(self) -> Console:
        return self._console(stderr=True)

    def _console(self, *, stderr: bool) -> Console:
        console = self._consoles.get(stderr)
        if console is None:
            from rich.console import Console

            console = self._consoles[stderr] = Console(stderr=stderr)
        return console

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def configure_logging(self) -> None:
        level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(self.verbosity, logging.DEBUG)
        logging.basicConfig(level=level, format="%(message)s", handlers=[_RichOnFirstRecord(self)], force=True)
        # HTTP requests (to clusters and sinks, one line each) only at -vv.
        logging.getLogger("kubesteward.http").setLevel(logging.DEBUG if self.verbosity >= 2 else logging.WARNING)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[Status]:
        """A spinner on stderr while a step runs, when stderr is a terminal; otherwise
        nothing (no animation thread, no import of rich's live display)."""
        if not sys.stderr.isatty() or not self.err.is_terminal:  # isatty first: no console made for nothing
            yield _Silent()
            return
        with self.err.status(text, spinner="dots") as spinner:
            yield spinner

    def retain(self, value: Any) -> None:
        """Keep ``value`` alive until the process exits (see ``retained``)."""
        self.retained.append(value)

    def note(self, message: str) -> None:
        """An informational line on stderr, hidden by -q."""
        if not self.quiet:
            self.err.print(message, highlight=False)


STATE = CliState()
