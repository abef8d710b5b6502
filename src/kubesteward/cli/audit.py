"""``kubesteward audit``: the policy rules over live clusters, with a score per namespace."""

from __future__ import annotations

from typing import Annotated

import typer

from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.output import check_format, escape
from kubesteward.cli.policy_output import FORMATS, PolicyRun, emit_policy, fails
from kubesteward.cli.state import STATE
from kubesteward.cluster import ClientFactory, ContextResult
from kubesteward.config_file import load_project_config
from kubesteward.errors import Forbidden, UsageError
from kubesteward.findings import Severity
from kubesteward.policy import PolicyConfig, parse_policy_config
from kubesteward.policy.live import AuditResult, audit_cluster, parse_label_selector

Profile = Annotated[
    str | None,
    typer.Option("--profile", help="pss-baseline, pss-restricted, production (the default) or all."),
]
FailOn = Annotated[
    str | None, typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe: error, warning, info.")
]
Only = Annotated[list[str] | None, typer.Option("--only", help="Run only these codes (or globs like KS7*); repeatable.")]
Ignore = Annotated[list[str] | None, typer.Option("--ignore", help="Codes (or globs) not to run; repeatable, comma-separated.")]
Config = Annotated[str | None, typer.Option("--config", help="Config file (default: .kubesteward.yaml in . or a parent).")]
AllowPartial = Annotated[
    bool,
    typer.Option("--allow-partial", help="With --fail-on: pass a run that could read only part of what was asked "
                 "(RBAC). Without it such a run exits 5; the output says what was not covered either way."),
]


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def audit(
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Contexts = None,
    all_contexts: opt.AllContexts = False,
    namespace: opt.Namespace = None,
    all_namespaces: opt.AllNamespaces = False,
    selector: opt.Selector = None,
    output: Annotated[
        str, typer.Option("-o", "--output", help="table, json, yaml, sarif, junit or markdown.")
    ] = "table",
    profile: Profile = None,
    config: Config = None,
    fail_on: FailOn = None,
    only: Only = None,
    ignore: Ignore = None,
    allow_partial: AllowPartial = False,
    request_timeout: opt.RequestTimeout = 30.0,
    sandbox_if_unconfigured: opt.SandboxFallback = False,
) -> int:
    """Check live clusters against the policy rules lint applies to files, with a score per namespace."""
    fmt = check_format(output, FORMATS)
    project = load_project_config(config)
    policy = parse_policy_config(project.policy, str(project.path or "defaults"), profile=profile,
                                 only=_split(only), ignore=_split(ignore))
    threshold = _threshold(fail_on or project.fail_on)
    parse_label_selector(selector)  # a usage error before anything is read
    scope = None if all_namespaces else namespace
    targets = opt.resolve_targets(kubeconfig, context, all_contexts, sandbox_if_unconfigured)

    results = _audit_live(targets, policy, scope, selector, request_timeout)
    STATE.retain(results)
    failures = [r for r in results if r.error is not None]
    if len(results) == 1 and failures and failures[0].error is not None:
        raise failures[0].error
    runs = [_run(r, policy) for r in results]
    emit_policy(fmt, runs, scores=True)
    if failures:
        return max(r.error.exit_code for r in failures if r.error is not None)
    if fails(runs, threshold):
        return 1
    partial = [run for run in runs if run.partial]
    if threshold is not None and partial and not allow_partial:
        for run in partial:
            assert run.coverage is not None
            STATE.err.print(
                f"[red]error[/]: [{escape(run.name)}] partial result under --fail-on: not covered: "
                f"{escape(run.coverage.summary())} (--allow-partial accepts it)",
                highlight=False, soft_wrap=True,
            )
        return Forbidden.exit_code
    return 0


def _threshold(name: str | None) -> Severity | None:
    if not name or name == "none":
        return None
    try:
        return Severity.parse(name)
    except KeyError:
        raise UsageError(f"--fail-on must be error, warning, info or none, not {name!r}") from None


def _audit_live(
    targets: opt.Targets, policy: PolicyConfig, namespace: str | None, selector: str | None, timeout: float,
) -> list[ContextResult[AuditResult]]:
    with STATE.status("reading the cluster..."):

        async def main() -> list[ContextResult[AuditResult]]:
            async with ClientFactory(targets.kubeconfig, timeout=timeout) as factory:
                return await factory.fan_out(
                    targets.contexts,
                    lambda client: audit_cluster(client, policy, namespace=namespace, label_selector=selector),
                )

        return runner.run(main())


def _run(result: ContextResult[AuditResult], policy: PolicyConfig) -> PolicyRun:
    if result.value is None:
        return PolicyRun("live", context=result.context, error=str(result.error), profile=policy.profile)
    audited = result.value
    return PolicyRun("live", audited.result, context=result.context, coverage=audited.coverage,
                     profile=policy.profile)
