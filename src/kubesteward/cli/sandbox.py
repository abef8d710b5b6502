"""``kubesteward sandbox up|down|status|kubeconfig|faults``: the local simulated cluster."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kubesteward.cli.output import check_format, emit_machine, escape
from kubesteward.cli.state import STATE
from kubesteward.errors import SandboxFailure

app = typer.Typer(
    help="A real local control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK nodes, "
    "metrics-server) on 127.0.0.1, built from pinned Go modules.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Option("--name", help="Sandbox name (several can run side by side).")]


@app.command()
def up(
    name: Name = "kubesteward",
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=500, help="Simulated (KWOK) nodes.")] = 3,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for Ready.")] = 180.0,
    demo: Annotated[bool, typer.Option("--demo", help="Seed a demo shop with real, label-injected faults.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print kwokctl's plan (every binary is a local path) and start nothing.")
    ] = False,
    recreate: Annotated[
        bool, typer.Option("--recreate", help="Wipe the sandbox's data and start an empty cluster.")
    ] = False,
    audit_log: Annotated[
        bool,
        typer.Option(
            "--audit-log",
            help="kube-apiserver writes an audit log (every request, Metadata level) for `rbac minimize`; "
            "decided when the sandbox is created.",
        ),
    ] = False,
) -> None:
    """Build the binaries if missing, start the control plane, wait until it is Ready (idempotent).

    A sandbox whose components died is healed (they are started again, its data kept);
    only --recreate wipes it."""
    from kubesteward.sandbox.build import BuildError
    from kubesteward.sandbox.cluster import Sandbox, SandboxError

    sandbox = Sandbox(name=name, nodes=nodes, audit_log=audit_log)
    if dry_run:
        print(sandbox.dry_run())
        return
    started = time.monotonic()
    try:
        with STATE.status("starting sandbox...") as spinner:
            def progress(message: str) -> None:
                spinner.update(f"[{time.monotonic() - started:4.0f}s] {message}")
                if STATE.verbosity > 0:
                    STATE.err.print(f"  {message}", highlight=False)

            status = sandbox.up(progress=progress, timeout=timeout, recreate=recreate)
    except (SandboxError, BuildError) as exc:
        raise SandboxFailure(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    STATE.note(
        f"sandbox {status.name!r} ready in {time.monotonic() - started:.1f}s: {status.server}, {status.nodes} nodes\n"
        f"  export KUBECONFIG={status.kubeconfig}"
        + (f"\n  audit log: {sandbox.audit_log_path}" if audit_log else "")
    )
    if demo:
        seed_demo_workload(status.kubeconfig)
        STATE.note(f"  kubesteward diagnose --kubeconfig {status.kubeconfig} -n demo")


def seed_demo_workload(kubeconfig: Path) -> None:
    """Apply the demo shop and wait (bounded) until its faults are visible."""
    from kubesteward.sandbox.demo import seed_and_wait

    with STATE.status("seeding the demo workload and waiting for its faults to show..."):
        converged = seed_and_wait(kubeconfig)
    if not converged:
        STATE.note("  (some demo faults are still developing; diagnose again in a minute)")
    STATE.note("demo workload ready in namespace 'demo'")


@app.command()
def build() -> None:
    """Build (or reuse from the cache) the pinned control-plane binaries and the renderers lint uses
    (kustomize, helm), showing progress."""
    from kubesteward.gotools import tools
    from kubesteward.gotools.build import ensure_built
    from kubesteward.sandbox.build import BuildError, ensure_binaries

    started = time.monotonic()

    def progress(message: str) -> None:
        STATE.note(f"[{time.monotonic() - started:5.0f}s] {message}")

    try:
        paths = ensure_binaries(progress)
        ensure_built(tools.components(), progress)  # the pinned versions, even where PATH has others
        paths.update({comp.name: tools.ensure_tool(comp.name).path for comp in tools.components()})
    except BuildError as exc:
        raise SandboxFailure(str(exc).splitlines()[0]) from exc
    for binary, path in sorted(paths.items()):
        STATE.note(f"  {binary:<24} {path}")
    STATE.note(f"binaries ready in {time.monotonic() - started:.1f}s")


@app.command()
def down(name: Name = "kubesteward") -> None:
    """Stop exactly the processes this sandbox started and remove its state."""
    from kubesteward.sandbox.cluster import Sandbox, SandboxError

    try:
        Sandbox(name=name).down()
    except SandboxError as exc:
        raise SandboxFailure(str(exc)) from exc
    STATE.note(f"sandbox {name!r} is down")


@app.command("status")
def status_(
    name: Name = "kubesteward",
    output: Annotated[str, typer.Option("-o", "--output", help="table, json or yaml")] = "table",
) -> int:
    """running, degraded or stopped; each component's state, pid and restarts; server and kubeconfig.

    Exit code 0 when running, 1 otherwise."""
    from kubesteward.sandbox.cluster import Sandbox

    fmt = check_format(output)
    status = Sandbox(name=name).status()
    if fmt != "table":
        emit_machine({**status.__dict__, "kubeconfig": str(status.kubeconfig)}, fmt)
        return 0 if status.running else 1
    colour = {"running": "green", "degraded": "yellow"}.get(status.state, "red")
    STATE.out.print(f"sandbox {status.name}: [{colour}]{status.state}[/]", highlight=False)
    if status.running:
        STATE.out.print(f"  server     {status.server}\n  kubeconfig {status.kubeconfig}\n  nodes      {status.nodes}")
    if status.components:
        STATE.out.print(f"  supervisor {f'pid {status.supervisor}' if status.supervisor else 'not running'}",
                        highlight=False)
        table = Table("component", "state", "pid", "restarts", box=None, pad_edge=False)
        notes = []
        for component, state in status.components.items():
            shade = {"running": "green", "restarting": "yellow", "paused": "yellow"}.get(state.state, "red")
            table.add_row(component, f"[{shade}]{state.state}[/]", str(state.pid or "-"), str(state.restarts))
            if state.state == "running":
                continue
            parts = []
            if state.last_exit:
                parts.append("exit status unknown" if state.last_exit == "unknown" else state.last_exit)
            if state.next_restart_in is not None:
                parts.append(f"next try in {state.next_restart_in:.0f}s")
            if state.last_error:
                parts.append(f"last log line: {_message(state.last_error)}")
            if parts:
                notes.append(f"  {component}: " + "; ".join(parts))
        STATE.out.print(table)
        for note in notes:
            STATE.out.print(escape(note), highlight=False, soft_wrap=True)
    return 0 if status.running else 1


_KLOG_HEADER = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] ")


def _message(line: str | None) -> str | None:
    """A log line without klog's header (severity, time, pid, file:line): the part worth reading."""
    return _KLOG_HEADER.sub("", line) if line else None


@app.command()
def kubeconfig(name: Name = "kubesteward") -> None:
    """Print the path of the sandbox's own kubeconfig (it never touches ~/.kube/config)."""
    from kubesteward.sandbox.cluster import Sandbox

    print(Sandbox(name=name).kubeconfig)


@app.command()
def faults() -> None:
    """List the fault-injection labels the sandbox understands."""
    from kubesteward.sandbox.faults import FAULTS

    table = Table("target", "label", "result")
    for fault in FAULTS:
        table.add_row(fault.kind, fault.label, fault.result)
    STATE.out.print(table)
