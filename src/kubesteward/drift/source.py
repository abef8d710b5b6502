"""Where the desired state comes from: files (``-f``) or one directory of a Git repository (``--git``).

``drift -f``, ``sync`` and ``watch --drift-from`` take a :class:`DesiredSource` and open it each time they
read: a loop (self-heal, watch) sees the branch's new commits, and every read is one commit, whose sha is
:attr:`Opened.revision` (what the audit trail records).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubesteward.errors import InputError, UsageError
from kubesteward.model.git_source import checkout
from kubesteward.model.render import RenderOptions


@dataclass(frozen=True)
class GitSpec:
    repo: str  # a local path or a URL
    ref: str = "HEAD"  # a branch, tag or commit
    path: str = "."  # the directory inside the repository


@dataclass(frozen=True)
class Opened:
    """The source, readable while it is open: ``paths`` to read, the ``revision`` they are (the Git commit;
    None for files) and a ``label`` naming them for people."""

    paths: tuple[Path, ...]
    revision: str | None
    label: str


@dataclass(frozen=True)
class DesiredSource:
    """Files or a Git directory (exactly one), and how charts among them are rendered."""

    paths: tuple[Path, ...] = ()
    git: GitSpec | None = None
    render: RenderOptions | None = None

    def __post_init__(self) -> None:
        if bool(self.paths) == (self.git is not None):
            raise UsageError("say where the manifests are: -f PATH or --git REPO (one of them)")

    @property
    def label(self) -> str:
        """The source without its revision (stable across reads)."""
        if self.git is not None:
            return f"git:{self.git.repo}@{self.git.ref}:{self.git.path}"
        return ", ".join(str(path) for path in self.paths)

    @contextmanager
    def open(self) -> Iterator[Opened]:
        """The source as files, read anew: a Git ref is resolved again at every call."""
        if self.git is None:
            yield Opened(self.paths, None, self.label)
            return
        with checkout(self.git.repo, self.git.ref, self.git.path) as tree:
            try:
                yield Opened((tree.directory,), tree.commit, tree.label)
            except InputError as exc:  # named in the repository, not in a temporary directory gone by now
                where = f"{self.git.repo}@{tree.short}:{tree.path}"
                message = str(exc).removeprefix(f"[{exc.context}] ") if exc.context else str(exc)
                raise InputError(message.replace(str(tree.directory), where), context=exc.context) from None

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Opened]:
        """:meth:`open` for async code: a Git checkout (``git``, a tree extracted) runs off the event loop."""
        manager = self.open()
        opened = await asyncio.to_thread(manager.__enter__)
        try:
            yield opened
        except BaseException as exc:
            if not await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__):
                raise
        else:
            await asyncio.to_thread(manager.__exit__, None, None, None)
