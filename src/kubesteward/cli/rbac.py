"""``kubesteward rbac who-can|minimize``: effective RBAC permissions, and least privilege from an audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.output import check_format, emit_machine, escape, pretty_json
from kubesteward.cli.state import STATE
from kubesteward.errors import UsageError

app = typer.Typer(
    help="RBAC: who may do what (roles, bindings and aggregated ClusterRoles evaluated as the API server does), "
    "and the least-privilege roles a subject needs, from the API server's audit log.",
    no_args_is_help=True,
)

SUPERUSER_NOTE = "members of group system:masters may do everything: the API server allows them before RBAC is asked"


@app.command("who-can")
def who_can(
    verb: Annotated[str, typer.Argument(help="get, list, watch, create, update, patch, delete, ... or *.")],
    resource: Annotated[
        str,
        typer.Argument(
            help="RESOURCE[.GROUP][/SUBRESOURCE] (pods, pods/exec, deployments.apps/scale, widgets.example.com), "
            "* or a non-resource URL (/metrics).",
        ),
    ],
    subresource: Annotated[str, typer.Option("--subresource", help="Subresource (exec, log, scale, status...).")] = "",
    name: Annotated[str, typer.Option("--name", help="One object's name (rules with resourceNames).")] = "",
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Contexts = None,
    namespace: Annotated[
        str | None,
        typer.Option("-n", "--namespace", help="Ask in this namespace. Default: in every namespace, each grant "
                     "saying where it holds."),
    ] = None,
    output: opt.Output = "table",
    request_timeout: opt.RequestTimeout = 30.0,
    from_file: Annotated[
        list[Path] | None,
        typer.Option("--from-file", "-f", help="Ask manifest files instead of a cluster (YAML/JSON files, "
                     "kubectl output, directories). Repeatable."),
    ] = None,
) -> int:
    """Who may VERB RESOURCE: every subject, with the binding and role that grant it and where."""
    from kubesteward.cluster import ClientFactory, ContextResult
    from kubesteward.policy.access import Answer, who_can_in_cluster, who_can_in_files

    fmt = check_format(output)
    if from_file:
        answer = runner.run(who_can_in_files(from_file, verb, resource, namespace, subresource=subresource, name=name))
        document = _document("files", answer)
        if fmt != "table":
            emit_machine(document, fmt)
        else:
            _render(document, several=False)
        return 0
    targets = opt.resolve_targets(kubeconfig, context)

    async def main() -> list[ContextResult[Answer]]:
        async with ClientFactory(targets.kubeconfig, timeout=request_timeout) as factory:
            return await factory.fan_out(
                targets.contexts,
                lambda client: who_can_in_cluster(client, verb, resource, namespace, subresource=subresource, name=name),
            )

    results = runner.run(main())
    failures = [r for r in results if r.error is not None]
    if len(results) == 1 and failures:
        raise failures[0].error  # type: ignore[misc]  # one cluster: its error is the command's error
    documents: list[dict[str, Any]] = []
    for result in results:
        if result.value is None:
            documents.append({"context": result.context, "error": str(result.error)})
            continue
        documents.append(_document(result.context, result.value))
    if fmt != "table":
        emit_machine(documents if len(results) > 1 else documents[0], fmt)
    else:
        for document in documents:
            _render(document, several=len(results) > 1)
    return max((r.error.exit_code for r in failures if r.error), default=0)


def _document(context: str, answer: Any) -> dict[str, Any]:
    document = {"context": context, "request": str(answer.question.request),
                "grants": [_grant_document(grant) for grant in answer.grants], "note": SUPERUSER_NOTE}
    if answer.unresolved:
        document["unresolved"] = [
            {"binding": {"kind": b.ref.kind, "name": b.ref.name, **({"namespace": b.scope} if b.scope else {})},
             "role": {"kind": b.role.kind, "name": b.role.name}} for b in answer.unresolved
        ]
    return document


def _grant_document(grant: Any) -> dict[str, Any]:
    subject: dict[str, Any] = {"kind": grant.subject.kind, "name": grant.subject.name}
    if grant.subject.namespace:
        subject["namespace"] = grant.subject.namespace
    return {
        "subject": subject,
        "namespace": grant.scope or "*",
        "binding": {"kind": grant.binding.kind, "name": grant.binding.name},
        "role": {"kind": grant.role.kind, "name": grant.role.name},
        "rule": grant.rule.manifest(),
    }


def _render(document: dict[str, Any], *, several: bool) -> None:
    out = STATE.out
    if "error" in document:
        STATE.err.print(f"[red]error[/]: {escape(document['error'])}", highlight=False)
        return
    prefix = f"[bold]{escape(document['context'])}[/]: " if several else ""
    grants = document["grants"]
    if not grants:
        out.print(f"{prefix}no binding allows {escape(document['request'])}", highlight=False)
    else:
        out.print(f"{prefix}{len(grants)} grant(s) of {escape(document['request'])}", highlight=False)
        rows = [("SUBJECT", "NAMESPACE", "BINDING", "ROLE")]
        for grant in grants:
            subject = grant["subject"]
            who = f"{subject['kind']} " + (f"{subject['namespace']}/" if "namespace" in subject else "") + subject["name"]
            rows.append((who, grant["namespace"], f"{grant['binding']['kind']}/{grant['binding']['name']}",
                         f"{grant['role']['kind']}/{grant['role']['name']}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:  # one line per grant however long (soft_wrap): names are copied and grepped whole
            line = "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
            out.print(escape(line, one_line=True), highlight=False, soft_wrap=True)
    for unresolved in document.get("unresolved", ()):
        binding, role = unresolved["binding"], unresolved["role"]
        where = f"{binding['namespace']}/" if "namespace" in binding else ""
        out.print(escape(f"? {binding['kind']}/{where}{binding['name']} binds {role['kind']}/{role['name']}, which the "
                         "files do not hold: what it grants is unknown here", one_line=True),
                  highlight=False, soft_wrap=True)
    STATE.note(f"({SUPERUSER_NOTE})")


@app.command()
def minimize(
    audit_log: Annotated[
        list[Path],
        typer.Option("--audit-log", help="kube-apiserver audit log (JSON lines); repeat for rotated files.",
                     show_default=False),
    ],
    user: Annotated[
        str,
        typer.Option("--user", help="The subject: a user name, or system:serviceaccount:NAMESPACE:NAME.",
                     show_default=False),
    ],
    name: Annotated[str | None, typer.Option("--name", help="Name of the roles and bindings. Default: "
                                             "<subject>-least-privilege.")] = None,
    no_resource_names: Annotated[
        bool, typer.Option("--no-resource-names", help="Grant verbs on every object, not only those named in the log."),
    ] = False,
    include_defaults: Annotated[
        bool, typer.Option("--include-defaults", help="Keep requests every authenticated user may make "
                           "(discovery, health, version, its own access reviews)."),
    ] = False,
    output: Annotated[str, typer.Option("-o", "--output", help="yaml (documents for kubectl apply -f) or json (a List).")] = "yaml",
) -> None:
    """Write the least-privilege Role(s) and ClusterRole (and their bindings) for what --user did."""
    from kubesteward.policy.least_privilege import minimize as least_privilege
    from kubesteward.policy.least_privilege import read_audit_log

    fmt = check_format(output, ("yaml", "json"))
    read = read_audit_log(audit_log, user)
    if not read.requests:
        files = ", ".join(str(path) for path in audit_log)
        raise UsageError(f"no request of {user!r} in {files} ({read.events} audit events read); check --user")
    made = least_privilege(read.requests, user, name=name, resource_names=not no_resource_names,
                           include_defaults=include_defaults)
    if not made.manifests:
        raise UsageError(f"every request of {user!r} is one any authenticated user may make: no role needed "
                         "(--include-defaults writes them anyway)")
    if fmt == "json":
        print(pretty_json({"apiVersion": "v1", "kind": "List", "items": made.manifests}))
    else:
        print("---\n".join(yaml.safe_dump(manifest, sort_keys=False) for manifest in made.manifests), end="")
    STATE.note(
        f"{made.requests} distinct request(s) of {made.subject} from {read.matched} audit event(s)"
        + (f"; {made.omitted} every authenticated user may make left out" if made.omitted else "")
    )
