"""Manifests from a Git repository: one commit's tree of one directory, read with the real ``git``.

>>> with checkout("/srv/git/shop", "main", "deploy") as tree:     # doctest: +SKIP
...     print(tree.commit, sorted(tree.directory.iterdir()))

``ref`` (a branch, tag or commit) is resolved to its full commit sha first, so everything read afterwards
is that one commit whatever is pushed meanwhile, and the sha is what an audit trail records. The tree is
``git archive``'d into a temporary directory (the repository is only read: no checkout, no index, no hooks)
and extracted with tarfile's ``data`` filter (no absolute paths, no links leaving the tree), then removed.
Local paths and ``file://`` URLs are read in place; another URL is cloned bare into the temporary directory
first. Every failure (no git, no repository, an unknown ref or path) is one :class:`InputError` line.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from kubesteward.errors import InputError

GIT_TIMEOUT = 300.0  # seconds: a large clone may take minutes, a stuck one must not hang the run
# A repository's own configuration must not run programs while it is read (fsmonitor hooks, pagers).
_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.pager=cat")


@dataclass(frozen=True)
class GitCheckout:
    """One commit's ``path`` extracted: ``directory`` holds it while the context is open."""

    directory: Path
    commit: str  # the full sha ``ref`` resolved to
    repo: str
    ref: str
    path: str

    @property
    def short(self) -> str:
        return self.commit[:12]

    @property
    def label(self) -> str:
        """Where the manifests came from, for people: ``git:REPO@REF:PATH (SHORT)``."""
        return f"git:{self.repo}@{self.ref}:{self.path} ({self.short})"


@contextmanager
def checkout(repo: str, ref: str = "HEAD", path: str = ".") -> Iterator[GitCheckout]:
    """``path`` of the commit ``ref`` names in ``repo``, extracted to a temporary directory."""
    git = shutil.which("git")
    if git is None:
        raise InputError("--git needs the git program, and it is not on PATH")
    inside = _inside_path(path)
    with tempfile.TemporaryDirectory(prefix="kubesteward-git-") as scratch:
        where = _local_repository(repo) or _clone(git, repo, Path(scratch) / "repository.git")
        commit = _git(git, where, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}",
                      failure=f"--ref {ref}: no such commit, branch or tag in {repo}").strip()
        tree = Path(scratch) / "tree"
        tree.mkdir()
        _extract(git, where, repo, commit, inside, tree, ref)
        directory = tree / inside if inside != "." else tree
        if not directory.exists():
            raise InputError(f"--path {path}: not in {repo} at {ref}")
        yield GitCheckout(directory=directory, commit=commit, repo=repo, ref=ref, path=inside)


def _inside_path(path: str) -> str:
    pure = PurePosixPath(path.strip() or ".")
    if pure.is_absolute() or ".." in pure.parts:
        raise InputError(f"--path {path}: give a directory inside the repository (relative, without '..')")
    return str(pure)


def _local_repository(repo: str) -> Path | None:
    """The repository's directory when it is on this machine (a path or a ``file://`` URL)."""
    parsed = urlparse(repo)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1 or ":" in repo.split("/")[0]:  # https://…, ssh://…, git@host:…
        return None
    where = Path(repo).expanduser()
    if not where.is_dir():
        raise InputError(f"--git {repo}: no such directory")
    return where


def _clone(git: str, repo: str, into: Path) -> Path:
    _run([git, *_SAFE, "clone", "--quiet", "--bare", "--", repo, str(into)], failure=f"--git {repo}: cannot clone")
    return into


def _git(git: str, where: Path, repo: str, *args: str, failure: str) -> str:
    return _run([git, *_SAFE, "-C", str(where), *args], failure=failure, repo=repo)


def _extract(git: str, where: Path, repo: str, commit: str, inside: str, tree: Path, ref: str) -> None:
    command = [git, *_SAFE, "-C", str(where), "archive", "--format=tar", commit]
    if inside != ".":
        command += ["--", inside]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
                archive.extractall(tree, filter="data")
        except tarfile.TarError as exc:
            process.kill()
            process.wait()
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            if "did not match" in stderr:
                raise InputError(f"--path {inside}: not in {repo} at {ref}") from None
            raise InputError(f"--git {repo}: cannot read {ref}: {_first_line(stderr) or exc}") from None
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if process.wait(timeout=GIT_TIMEOUT) != 0:
            if "did not match" in stderr:
                raise InputError(f"--path {inside}: not in {repo} at {ref}")
            raise InputError(f"--git {repo}: cannot read {ref}: {_first_line(stderr)}")


def _run(command: list[str], *, failure: str, repo: str = "") -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InputError(f"{failure}: git took more than {GIT_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        reason = _first_line(done.stderr)
        if "not a git repository" in reason and repo:
            raise InputError(f"--git {repo}: not a Git repository")
        raise InputError(f"{failure}: {reason}" if reason else failure)
    return done.stdout


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].removeprefix("fatal: ").removeprefix("error: ") if lines else ""
