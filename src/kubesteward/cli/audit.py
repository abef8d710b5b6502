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
from kubesteward.model.scope import parse_label_selector
from kubesteward.policy import PolicyConfig, parse_policy_config
from kubesteward.policy.live import AuditResult, audit_cluster

Profile = Annotated[
    str | None,
    typer.Option("--profile", help="pss-baseline, pss-restricted, production (the default) or all."),
]


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
    config: opt.Config = None,
    fail_on: opt.FailOn = None,
    only: opt.Only = None,
    ignore: opt.Ignore = None,
    allow_partial: opt.AllowPartial = False,
    request_timeout: opt.RequestTimeout = 30.0,
    sandbox_if_unconfigured: opt.SandboxFallback = False,
) -> int:
    """Check live clusters against the policy rules lint applies to files, with a score per namespace."""
    fmt = check_format(output, FORMATS)
    project = load_project_config(config)
    policy = parse_policy_config(project.policy, str(project.path or "defaults"), profile=profile,
                                 only=opt.split_values(only), ignore=opt.split_values(ignore))
    threshold = opt.severity_threshold(fail_on or project.fail_on)
    parse_label_selector(selector)  # a usage error before anything is read
    scope = None if all_namespaces else namespace
    targets = opt.resolve_targets(kubeconfig, context, all_contexts, sandbox_if_unconfigured)

    results = _audit_live(targets, policy, scope, selector, request_timeout)
    STATE.retain(results)
    failures = [r for r in results if r.error is not None]
    if len(results) == 1 and failures and failures[0].error is not None:
        raise failures[0].error
    _say_what_was_read(results)
    runs = [_run(r, policy) for r in results]
    emit_policy(fmt, runs, scores=True)
    if failures:
        return max(r.error.exit_code for r in failures if r.error is not None)
    if fails(runs, threshold):
        return 1
    partial = [(run.name, run.coverage.summary()) for run in runs if run.coverage and not run.coverage.complete]
    return opt.partial_gate(partial, threshold is not None, allow_partial)


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


def _say_what_was_read(results: list[ContextResult[AuditResult]]) -> None:
    """At -v: what each cluster's run listed, so a run that judged nothing it meant to is not taken for a clean one."""
    if STATE.verbosity < 1:
        return
    for result in results:
        if result.value is not None:
            audited = result.value
            STATE.err.print(
                f"{escape(f'[{result.context}]')} read {audited.objects_read} objects of {len(audited.kinds)} kinds "
                f"({escape(', '.join(audited.kinds))}); judged {audited.result.objects}",
                highlight=False, soft_wrap=True,
            )


def _run(result: ContextResult[AuditResult], policy: PolicyConfig) -> PolicyRun:
    if result.value is None:
        return PolicyRun("live", context=result.context, error=str(result.error), profile=policy.profile)
    audited = result.value
    return PolicyRun("live", audited.result, context=result.context, coverage=audited.coverage,
                     profile=policy.profile)
