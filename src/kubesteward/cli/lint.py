"""``kubesteward lint PATH…``: the policy rules over manifests, for CI (docs/lint.md)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from kubesteward.cli import options as opt
from kubesteward.cli.output import check_format, escape
from kubesteward.cli.policy_output import FORMATS, Location, PolicyRun, emit_policy, fails
from kubesteward.cli.state import STATE
from kubesteward.config_file import load_project_config
from kubesteward.errors import InputError, OutputError, UsageError
from kubesteward.findings import Severity
from kubesteward.model.render import RenderOptions
from kubesteward.model.semantics.api_versions import parse_version
from kubesteward.policy import Located, PolicyConfig, parse_policy_config
from kubesteward.policy.files import FileLint, lint_files

DEFAULT_FAIL_ON = "error"


def lint(
    paths: Annotated[list[str], typer.Argument(
        help="Files, directories (recursively), - for stdin; multi-document YAML, JSON, kind: List.",
        show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="table, json, yaml, sarif, junit or markdown.")] = "table",
    profile: Annotated[str | None, typer.Option(
        "--profile", help="pss-baseline, pss-restricted, production (default) or all.")] = None,
    config: Annotated[str | None, typer.Option(
        "--config", help="Config file (default: .kubesteward.yaml in . or a parent).")] = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", help="Exit 1 when a finding is at least this severe: error (default), warning, info, none.")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these codes (or globs like KS7*).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Codes (or globs) not to run.")] = None,
    target_version: Annotated[str | None, typer.Option(
        "--target-version", help="Kubernetes version the manifests are for (deprecated and removed APIs).")] = None,
    scores: Annotated[bool, typer.Option("--scores", help="Table: add each namespace's score.")] = False,
    values: Annotated[list[Path] | None, typer.Option(
        "-f", "--values", help="Helm charts: a values file (repeatable; later files win).")] = None,
    set_values: Annotated[list[str] | None, typer.Option(
        "--set", help="Helm charts: key=value, as helm --set (repeatable).")] = None,
    release: Annotated[str, typer.Option("--release-name", help="Helm charts: the release name.")] = "release",
    fix: Annotated[bool, typer.Option(
        "--fix", help="Make the safe fixes where findings point: a unified diff on stdout (apply it with "
        "`git apply` or `patch -p1`), or --in-place.")] = False,
    in_place: Annotated[bool, typer.Option("--in-place", help="With --fix: edit the files instead.")] = False,
) -> int:
    """Check manifests against the policy rules: exit 1 on findings at or above --fail-on."""
    if in_place and not fix:
        raise UsageError("--in-place edits files with the fixes: give --fix too")
    if fix and output != "table":
        raise UsageError("--fix writes a patch (or, with --in-place, the files): -o does not apply to it")
    fmt = check_format(output, FORMATS)
    project = load_project_config(config)
    threshold = opt.severity_threshold(fail_on or project.fail_on or DEFAULT_FAIL_ON)
    policy = _policy_config(project.policy, str(project.path or "defaults"), profile, only, ignore, target_version)
    for file in values or []:
        if not file.is_file():
            raise InputError(f"--values {file}: no such file")
    with STATE.status("reading...") as status:
        render = RenderOptions(values=tuple(values or ()), set_values=tuple(set_values or ()), release=release,
                               kube_version=policy.settings.target_version, progress=status.update)
        checked = lint_files([Path(p) for p in paths], policy, render)
    STATE.retain(checked)
    _say_what_was_read(checked)
    if fix:
        return _fix(checked, policy, threshold, in_place=in_place)
    run = lint_run(checked, policy)
    emit_policy(fmt, [run], scores=scores)
    return 1 if fails([run], threshold) else 0


def lint_run(checked: FileLint, policy: PolicyConfig) -> PolicyRun:
    """The files' evaluation as the outputs show it: each finding's file and line found when shown."""

    def locate(item: Located) -> Location | None:
        where = checked.where(item)
        return Location(where.origin.file, where.line, where.object_line) if where is not None else None

    return PolicyRun(source=checked.manifests.model.source, result=checked.result, locate=locate,
                     profile=policy.profile)


def _fix(checked: FileLint, policy: PolicyConfig, threshold: Severity | None, *, in_place: bool) -> int:
    """The safe fixes as a patch on stdout, or written to the files; on stderr, what was fixed and what
    is left to do by hand. Exit 1 when what is left reaches --fail-on."""
    from kubesteward.policy.file_fixes import plan_fixes, remaining, unified_patch

    plan = plan_fixes(checked, policy)
    if in_place:
        for change in plan.files:
            rewrite_in_place(Path(change.file), change.after)
    else:
        patches = []
        for change in list(plan.files):
            patch = unified_patch(change, _label(change.file))
            if patch is None:
                plan.drop(change, "the patch would show an env value: use --in-place")
            else:
                patches.append(patch)
        print("".join(patches), end="")
    left = remaining(checked, plan, policy)
    if not STATE.quiet:
        STATE.err.print(f"{'fixed' if in_place else 'the patch fixes'} {plan.changes} field(s) of {len(plan.fixed)} "
                        f"object(s) in {len(plan.files)} file(s); {len(left.located)} finding(s) left to fix by hand",
                        highlight=False, soft_wrap=True)
    for key, why in plan.skipped:
        STATE.err.print(f"[yellow]not fixed[/]: {escape(key)}: {escape(why)}", highlight=False, soft_wrap=True)
    if not STATE.quiet:
        for item in left.located:
            where = checked.where(item)
            place = f" ({where.origin.file}:{where.line})" if where is not None and where.line else ""
            STATE.err.print(f"  {item.finding.code} {escape(str(item.finding.object))}: "
                            f"{escape(item.finding.message, one_line=True)}{escape(place)}", highlight=False,
                            soft_wrap=True)
    return 1 if fails([PolicyRun("fixed", left)], threshold) else 0


def _label(file: str) -> str:
    """The file's name in a patch: relative to the working directory when under it (what `git apply` and
    `patch -p1` run from there expect)."""
    path = Path(file).resolve()
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix().lstrip("/")


def rewrite_in_place(path: Path, text: str) -> None:
    """``path`` replaced by ``text`` at once (a new file renamed over it, keeping its mode): a reader never
    sees half a manifest, and an interrupted run leaves the old one."""
    try:
        mode = path.stat().st_mode & 0o7777
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=path.parent,
                                         prefix=f".{path.name}.", delete=False) as handle:
            handle.write(text)
        os.chmod(handle.name, mode)
        os.replace(handle.name, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be rewritten: {exc.strerror or exc}") from None


def _policy_config(
    data: object, where: str, profile: str | None, only: list[str] | None, ignore: list[str] | None,
    target_version: str | None,
) -> PolicyConfig:
    policy = parse_policy_config(data, where, profile=profile, only=opt.split_values(only), ignore=opt.split_values(ignore))
    if target_version is None:
        return policy
    try:
        parse_version(target_version)
    except ValueError as exc:
        raise UsageError(f"--target-version: {exc}") from None
    return dataclasses.replace(policy, settings=dataclasses.replace(policy.settings, target_version=target_version))


def _say_what_was_read(checked: FileLint) -> None:
    """At -v: what was read, so a run that judged nothing it meant to is not taken for a clean one."""
    if STATE.verbosity < 1:
        return
    kinds = checked.kinds()
    files = {origin.file for origin in checked.manifests.objects.origins.values()}
    STATE.err.print(
        f"read {sum(kinds.values())} objects from {len(files)} file(s): "
        + escape(", ".join(f"{kind} ({count})" for kind, count in kinds.items())),
        highlight=False, soft_wrap=True,
    )
    result = checked.result
    STATE.err.print(f"judged {result.objects} objects with {len(result.rules)} rules: {', '.join(result.rules)}",
                    highlight=False, soft_wrap=True)
    for key, origins in checked.manifests.objects.duplicates.items():
        STATE.err.print(f"[yellow]duplicate[/]: {escape(str(key))} in {escape(', '.join(map(str, origins)))} "
                        "(the last one is judged)", highlight=False, soft_wrap=True)
