"""Manifests from a real Git repository (the git binary, a repository made in a temporary directory)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubesteward.drift.source import DesiredSource, GitSpec
from kubesteward.errors import InputError, UsageError
from kubesteward.model.git_source import checkout


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
         "-C", str(repo), *args], check=True, capture_output=True, text=True,
    ).stdout.strip()


def commit_file(repo: Path, name: str, text: str) -> str:
    file = repo / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"write {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    where = tmp_path / "repo"
    where.mkdir()
    git(where, "init", "-q")
    return where


def test_a_branch_is_one_commit_s_tree_of_the_path(repo: Path) -> None:
    first = commit_file(repo, "deploy/cm.yaml", "value: one\n")
    commit_file(repo, "other/x.yaml", "x: 1\n")
    with checkout(str(repo), "main", "deploy") as tree:
        assert tree.commit == git(repo, "rev-parse", "main") != first
        assert [p.name for p in tree.directory.iterdir()] == ["cm.yaml"]
        assert (tree.directory / "cm.yaml").read_text() == "value: one\n"
        assert tree.label == f"git:{repo}@main:deploy ({tree.commit[:12]})"
        kept = tree.directory
    assert not kept.exists()  # removed when the context closes


def test_an_older_commit_and_uncommitted_changes(repo: Path) -> None:
    first = commit_file(repo, "deploy/cm.yaml", "value: one\n")
    commit_file(repo, "deploy/cm.yaml", "value: two\n")
    (repo / "deploy/cm.yaml").write_text("value: dirty\n")  # not committed: not the desired state
    with checkout(str(repo), first, "deploy") as tree:
        assert tree.commit == first
        assert (tree.directory / "cm.yaml").read_text() == "value: one\n"
    with checkout(f"file://{repo}", "HEAD") as tree:
        assert (tree.directory / "deploy/cm.yaml").read_text() == "value: two\n"


def test_failures_are_one_input_error_line(repo: Path, tmp_path: Path) -> None:
    commit_file(repo, "deploy/cm.yaml", "value: one\n")
    cases = {
        ("main", "nowhere"): "--path nowhere: not in",
        ("no-such-branch", "."): "--ref no-such-branch: no such commit, branch or tag",
        ("--upload-pack=x", "."): "no such commit",  # an option is never passed to git as one
    }
    for (ref, path), expected in cases.items():
        with pytest.raises(InputError, match=expected) as caught, checkout(str(repo), ref, path):
            pass
        assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="not a Git repository"), checkout(str(tmp_path), "HEAD"):
        pass
    with pytest.raises(InputError, match="no such directory"), checkout(str(tmp_path / "absent"), "HEAD"):
        pass
    for outside in ("../x", "/etc"):
        with pytest.raises(InputError, match="inside the repository"), checkout(str(repo), "HEAD", outside):
            pass


def test_a_source_reads_the_branch_anew_each_time_it_opens(repo: Path) -> None:
    first = commit_file(repo, "deploy/cm.yaml", "value: one\n")
    source = DesiredSource(git=GitSpec(str(repo), "main", "deploy"))
    with source.open() as opened:
        assert opened.revision == first
        assert (opened.paths[0] / "cm.yaml").read_text() == "value: one\n"
    second = commit_file(repo, "deploy/cm.yaml", "value: two\n")
    with source.open() as opened:
        assert opened.revision == second
        assert (opened.paths[0] / "cm.yaml").read_text() == "value: two\n"
    assert source.label == f"git:{repo}@main:deploy"
    files = DesiredSource(paths=(Path("a"), Path("b")))
    with files.open() as opened:
        assert opened.revision is None and opened.label == "a, b"
    for wrong in ({}, {"paths": (Path("a"),), "git": GitSpec(str(repo))}):
        with pytest.raises(UsageError):
            DesiredSource(**wrong)  # type: ignore[arg-type]


def test_drift_refuses_contradictory_sources_and_unreadable_repositories_before_any_request(tmp_path: Path) -> None:
    from tests.support.cli import cli

    config = tmp_path / "kubeconfig"  # a cluster nobody serves: a request would be exit 8, not these codes
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n")
    kubeconfig = ("--kubeconfig", str(config))
    for args, code, words in (
        (("-f", "a.yaml", "--git", str(tmp_path)), 2, "-f and --git: give one of them"),
        (("-f", "a.yaml", "--ref", "main"), 2, "--ref and --path need --git"),
        (("--namespaces", "a", "b", "--path", "deploy"), 2, "--ref and --path need --git"),
        (("--git", str(tmp_path / "absent")), 11, "no such directory"),
        (("--git", str(tmp_path)), 11, "not a Git repository"),
    ):
        result = cli("drift", *args, *kubeconfig)
        assert result.returncode == code, (args, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr


def test_a_bad_file_of_a_commit_is_named_in_the_repository_not_in_a_temporary_directory(repo: Path) -> None:
    from kubesteward.model.render import read_inputs

    commit = commit_file(repo, "deploy/bad.yaml", "a: [unclosed\n")
    source = DesiredSource(git=GitSpec(str(repo), "main", "deploy"))
    with pytest.raises(InputError) as caught, source.open() as opened:
        read_inputs(opened.paths)
    assert str(caught.value).startswith(f"{repo}@{commit[:12]}:deploy/bad.yaml:")
    assert "kubesteward-git-" not in str(caught.value)
