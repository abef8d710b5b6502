"""``kubesteward webhook serve|install|uninstall``: the policy at admission time (docs/webhook.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.state import STATE
from kubesteward.errors import UsageError

if TYPE_CHECKING:
    from kubesteward.state import AuditEntry

app = typer.Typer(
    help="Admission webhook: the policy's rules deny (errors) and warn (the rest) at admission, and its safe "
    "fixes are applied (default resources, securityContext hardening).",
    no_args_is_help=True,
)

# In a pod, the namespace it runs in (its own: exempt, so the webhook can always start itself).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

FailurePolicyOption = Annotated[
    str, typer.Option("--failure-policy", help="Fail (refuse what cannot be judged) or Ignore (admit it, with a "
                      "warning). Install: what the API server does when the webhook is down or late; serve: what "
                      "the server answers when an evaluation outlives --budget.")
]
Service = Annotated[
    str | None, typer.Option("--service", help="NAMESPACE/NAME of the Service in front of the server (in-cluster); "
                             "its namespace is exempt, its DNS names go in the certificate.")
]
CertDir = Annotated[
    Path | None, typer.Option("--cert-dir", help="Where the generated CA and serving certificate live "
                              "(default: $XDG_STATE_HOME/kubesteward/webhook-tls).")
]
Config = Annotated[str | None, typer.Option("--config", help="Config file (default: .kubesteward.yaml in . or a parent).")]
Name = Annotated[str, typer.Option("--name", help="Name of the webhook configurations.")]
Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")]


def _failure_policy(value: str) -> Any:
    chosen = {"fail": "Fail", "ignore": "Ignore"}.get(value.lower())
    if chosen is None:
        raise UsageError(f"--failure-policy {value!r}: expected Fail or Ignore")
    return chosen


def _own_namespace(service: tuple[str, str] | None) -> str:
    if service is not None:
        return service[0]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        return ""


@app.command()
def serve(
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to serve HTTPS on (port 0: any free one).")]
    = "127.0.0.1:9443",
    cert_dir: CertDir = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Serving certificate (PEM), read again when "
                                                  "it changes; with --tls-key.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    san: Annotated[list[str] | None, typer.Option("--san", help="More names for the generated certificate "
                                                  "(repeat).")] = None,
    service: Service = None,
    exempt: Annotated[list[str] | None, typer.Option("--exempt", help="Another namespace never judged (repeat).")]
    = None,
    config: Config = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Policy profile (default: the config's, "
                                                "else production).")] = None,
    failure_policy: FailurePolicyOption = "Fail",
    budget: Annotated[float, typer.Option("--budget", help="Seconds an evaluation may take before --failure-policy "
                                          "answers (keep it below the configurations' timeoutSeconds).",
                                          callback=opt._positive_seconds)] = 2.0,
    reload_interval: Annotated[float, typer.Option("--reload-interval", help="Seconds between looks at the "
                                                   "certificate files.", callback=opt._positive_seconds)] = 2.0,
) -> None:
    """Serve /validate and /mutate (AdmissionReview v1) over HTTPS until interrupted."""
    from kubesteward.config_file import load_project_config
    from kubesteward.policy.config import parse_policy_config
    from kubesteward.webhook.admission import AdmissionPolicy
    from kubesteward.webhook.certs import ReloadingTLS, TLSFiles, ensure_certificates, service_names
    from kubesteward.webhook.install import parse_service
    from kubesteward.webhook.server import WebhookServer

    chosen_policy = _failure_policy(failure_policy)
    where_service = parse_service(service) if service else None
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    project = load_project_config(config)
    policy_config = parse_policy_config(project.policy, str(project.path or ".kubesteward.yaml"), profile=profile)
    if tls_cert is not None and tls_key is not None:
        files = TLSFiles(tls_cert, tls_key)
    else:
        names = [*(san or []), *(service_names(*where_service) if where_service else [])]
        files = ensure_certificates(cert_dir, names)
    tls = ReloadingTLS(files)
    policy = AdmissionPolicy(policy_config, chosen_policy, budget).with_exempt(
        _own_namespace(where_service), *(exempt or []))
    server = WebhookServer(policy, tls, listen, reload_interval=reload_interval)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with server:
            if not STATE.quiet:  # one unwrapped line: scripts read the address (port 0) from it
                STATE.err.print(f"serving {server.url}", highlight=False, soft_wrap=True)
            STATE.note(f"  /validate and /mutate, profile {policy_config.profile}, failure policy {chosen_policy}, "
                       f"exempt namespaces: {', '.join(policy.exempt_namespaces)}")
            if files.ca is not None:
                STATE.note(f"  caBundle: {files.ca}")
            await stop.wait()

    runner.run(main())


@app.command()
def install(
    url: Annotated[str | None, typer.Option("--url", help="https://HOST:PORT of a server outside the cluster, "
                                            "e.g. https://127.0.0.1:9443.")] = None,
    service: Service = None,
    port: Annotated[int, typer.Option("--port", help="The Service's port.", min=1, max=65535)] = 443,
    cert_dir: CertDir = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="The CA (PEM) that signed the server's "
                                                 "certificate (default: the generated one in --cert-dir).")] = None,
    name: Name = "kubesteward",
    failure_policy: FailurePolicyOption = "Fail",
    timeout: Annotated[int, typer.Option("--timeout", help="timeoutSeconds: how long the API server waits (1-30).")]
    = 5,
    namespace: Annotated[list[str] | None, typer.Option("-n", "--namespace", help="Only admission in this namespace "
                                                        "(repeat). Default: every namespace but the exempt.")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource", help="A CRD with a pod template, "
                                                       "GROUP/RESOURCE (repeat), e.g. argoproj.io/rollouts.")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="Install the validation.")] = True,
    mutate: Annotated[bool, typer.Option("--mutate/--no-mutate", help="Install the mutation.")] = True,
    config: Config = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the configurations; apply nothing.")] = False,
    server_dry_run: Annotated[
        bool, typer.Option("--server-dry-run", help="Send the applies as server-side dry runs (validation and "
                           "admission answer as for real); write nothing.")
    ] = False,
    state: opt.StateUrl = None,
    kubeconfig: opt.Kubeconfig = None,
    context: Context = None,
    request_timeout: opt.RequestTimeout = 30.0,
) -> None:
    """Apply the Validating- and MutatingWebhookConfiguration (server-side apply) with the caBundle."""
    from kubesteward.config_file import load_project_config
    from kubesteward.policy.config import parse_policy_config
    from kubesteward.webhook.certs import TLSFiles, ensure_certificates, service_names
    from kubesteward.webhook.install import Registration, configurations, parse_service

    where_service = parse_service(service) if service else None
    project = load_project_config(config)
    settings = parse_policy_config(project.policy, str(project.path or ".kubesteward.yaml")).settings
    if ca_file is not None:
        bundle = TLSFiles(ca_file, ca_file).ca_bundle()
    else:
        host = urlsplit(url).hostname if url else None
        names = service_names(*where_service) if where_service else ([host] if host else [])
        bundle = ensure_certificates(cert_dir, names).ca_bundle()
    registration = Registration(
        ca_bundle=bundle, url=url, service=where_service, service_port=port, name=name,
        failure_policy=_failure_policy(failure_policy), timeout_seconds=timeout, namespaces=tuple(namespace or ()),
        exempt=(*settings.exempt_namespaces, *([where_service[0]] if where_service else [])),
        resources=tuple(resource or ()), validating=validate, mutating=mutate,
    )
    manifests = configurations(registration)
    if dry_run:
        import yaml

        print(yaml.safe_dump_all(manifests, sort_keys=False), end="")
        return
    if dry_run and server_dry_run:
        raise UsageError("--dry-run prints, --server-dry-run asks the API server: give one")
    for line in _with_client(kubeconfig, context, request_timeout, "install", manifests, name, state,
                             dry_run=server_dry_run):
        print(line)


@app.command()
def uninstall(
    name: Name = "kubesteward",
    state: opt.StateUrl = None,
    kubeconfig: opt.Kubeconfig = None,
    context: Context = None,
    request_timeout: opt.RequestTimeout = 30.0,
) -> None:
    """Delete the webhook configurations (admission goes on without the policy at once)."""
    lines = _with_client(kubeconfig, context, request_timeout, "uninstall", [], name, state)
    for line in lines:
        print(line)
    if not lines:
        STATE.note(f"no webhook configuration named {name!r}: nothing to delete")


def _with_client(kubeconfig: str | None, context: str | None, request_timeout: float, action: str,
                 manifests: list[dict[str, Any]], name: str, state: str | None, *, dry_run: bool = False) -> list[str]:
    from kubesteward.cluster import ClientFactory
    from kubesteward.cluster.identity import whoami
    from kubesteward.state import StateStore
    from kubesteward.webhook.install import install as apply_configurations
    from kubesteward.webhook.install import uninstall as delete_configurations

    targets = opt.resolve_targets(kubeconfig, [context] if context else None)
    verb = "apply" if action == "install" else "delete"

    with StateStore.open(state) as store:  # opened first: a trail that cannot be written stops before any write

        async def main() -> list[str]:
            async with ClientFactory(targets.kubeconfig, timeout=request_timeout) as factory:
                client = factory.client(targets.contexts[0])
                if action == "install":
                    done = await apply_configurations(client, manifests, dry_run=dry_run)
                else:
                    done = await delete_configurations(client, name)
                store.record_audit(_audit(await whoami(client), client.context, f"webhook {action}", verb, name, done,
                                          dry_run))
                return done

        done = runner.run(main())
    suffix = " (server dry run)" if dry_run else ""
    return [f"{'applied' if verb == 'apply' else 'deleted'} {item}{suffix}" for item in done]


def _audit(
    actor: str, context: str, source: str, verb: str, name: str, done: list[str], dry_run: bool,
) -> list[AuditEntry]:
    """One entry per configuration written (``Kind/name``), under the app ``webhook/NAME``."""
    from kubesteward.state import AuditEntry

    now = dt.datetime.now(dt.UTC)
    return [
        AuditEntry(at=now, actor=actor, context=context, app=f"webhook/{name}", action=verb, kind=kind,
                   group="admissionregistration.k8s.io", namespace="", name=object_name, source=source, revision="",
                   dry_run=dry_run, outcome="ok", detail="")
        for kind, _, object_name in (item.partition("/") for item in done)
    ]
