"""A real local control plane with simulated nodes: ``kubesteward sandbox``.

kwokctl (binary runtime) starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, the KWOK controller and metrics-server as plain processes on
127.0.0.1, all from binaries we built ourselves (see ``build``), with every
download source replaced by a local path. Nodes are ordinary Node objects that
KWOK keeps "alive"; pods are scheduled by the real scheduler and KWOK plays
their status from the stages in ``stages/`` (including the fault labels of
``faults``).

Everything lives under ``state_root()/<name>``: kwokctl's workdir, our own
kubeconfig (never ~/.kube/config), the ports, pids and command lines of the
processes we started (``components``), the supervisor's files (``supervise``)
and the logs. A sandbox's data is wiped only by ``down`` or ``up(recreate=True)``:
``up`` on a half-dead sandbox restarts what is missing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import yaml

from kubesteward.errors import SandboxFailure
from kubesteward.sandbox import build, ports, supervise, versions
from kubesteward.sandbox.components import COMPONENTS, Layout, Spec, last_line, terminate
from kubesteward.sandbox.paths import file_lock, state_root

Progress = Callable[[str], None]

NODE_LABEL = "type=kwok"
LOOPBACK = "127.0.0.1"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_ZONES = ("zone-a", "zone-b", "zone-c")

# metrics-server v0.9.0 manifests/base, reduced to what kwokctl keeps for the
# binary runtime (it drops the Deployment and RBAC, turns the Service into an
# ExternalName to 127.0.0.1 and points the APIService at the real port).
# Without this kwokctl would fetch components.yaml from GitHub.
_METRICS_SERVER_MANIFEST = """\
apiVersion: v1
kind: Service
metadata:
  labels:
    k8s-app: metrics-server
  name: metrics-server
  namespace: kube-system
spec:
  ports:
  - appProtocol: https
    name: https
    port: 443
    protocol: TCP
    targetPort: https
  selector:
    k8s-app: metrics-server
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  labels:
    k8s-app: metrics-server
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  groupPriorityMinimum: 100
  insecureSkipTLSVerify: true
  service:
    name: metrics-server
    namespace: kube-system
  version: v1beta1
  versionPriority: 100
"""


# Every request at the Metadata level (who, what, where, the answer's code; never a body, so no Secret
# value), once, when its response is complete (RequestReceived would double every line).
_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
"""


@dataclass(frozen=True)
class ComponentStatus:
    """One component as ``sandbox status`` shows it."""

    # running | suspended (SIGSTOP) | restarting | crash-looping | paused (Sandbox.crash) | stopped (no supervisor)
    state: str
    pid: int | None = None
    restarts: int = 0  # by the supervisor, since the sandbox was created
    last_exit: str | None = None  # "exit 1", "signal SIGKILL", "unknown" (started by kwokctl)
    last_error: str | None = None  # its log's last line when it last died (now, when it is down)
    next_restart_in: float | None = None  # seconds, while the supervisor waits out its backoff


@dataclass(frozen=True)
class SandboxStatus:
    name: str
    running: bool  # every component runs and the API server is ready
    kubeconfig: Path
    server: str | None  # https://127.0.0.1:PORT when running
    pids: dict[str, int] = field(default_factory=dict)  # component -> pid we started
    nodes: int = 0  # simulated nodes seen through the API when running
    # running; degraded (some of its processes run, not all, or the API is not ready); stopped (none runs)
    state: str = "stopped"
    components: dict[str, ComponentStatus] = field(default_factory=dict)
    supervisor: int | None = None  # the supervisor's pid while it runs
    ports: dict[str, int] = field(default_factory=dict)  # kwokctl option -> port, recorded at creation


class SandboxError(SandboxFailure):
    """A one-line, human message about why the sandbox cannot do what was asked."""


class Sandbox:
    """One named local cluster. Cheap to construct; nothing happens until ``up``."""

    def __init__(
        self,
        name: str = "kubesteward",
        nodes: int = 3,
        state_dir: Path | None = None,
        extra_args: Mapping[str, Mapping[str, str]] | None = None,
        metrics: bool = True,
        audit_log: bool = False,
    ) -> None:
        """``extra_args`` adds flags per component, e.g. ``{"kube-controller-manager":
        {"kube-api-qps": "500"}}`` for a large benchmark cluster. ``metrics=False``
        runs no metrics-server: its scrape of every simulated pod keeps the
        KWOK controller busy, noise a benchmark of something else does not
        want on the same cores. ``audit_log=True`` makes kube-apiserver write its
        audit log (every request at the Metadata level, JSON lines) to :attr:`audit_log_path`;
        it is decided when the sandbox is created."""
        if not _NAME_RE.match(name):
            raise SandboxError(f"invalid sandbox name {name!r}: use 1-40 lowercase letters, digits and '-'")
        if nodes < 0:
            raise SandboxError("the number of nodes cannot be negative")
        self.name = name
        self.nodes = nodes
        self.state_dir = (state_dir if state_dir is not None else state_root() / name).absolute()
        self.extra_args = {component: dict(flags) for component, flags in (extra_args or {}).items()}
        self.metrics = metrics
        self.audit_log = audit_log
        self._up_started = 0.0  # wall-clock start of the current up(), for the freshness of leases

    # -- layout ----------------------------------------------------------

    @property
    def layout(self) -> Layout:
        return Layout(self.name, self.state_dir)

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def _kwok_workdir(self) -> Path:
        return self.state_dir / "kwok"

    @property
    def _cluster_dir(self) -> Path:
        return self.layout.cluster_dir

    @property
    def _kube_cache(self) -> Path:
        # kubectl's discovery/http cache, which would default to ~/.kube/cache.
        return self.state_dir / "kube-cache"

    @property
    def logs_dir(self) -> Path:
        return self.layout.logs_dir

    @property
    def audit_log_path(self) -> Path:
        """Where kube-apiserver writes its audit log (a sandbox made with ``audit_log=True``)."""
        return self.state_dir / "audit" / "audit.log"

    @property
    def _audit_policy(self) -> Path:
        return self.state_dir / "audit" / "policy.yaml"

    def node_names(self) -> list[str]:
        return [f"kwok-node-{i}" for i in range(self.nodes)]

    # -- public API ------------------------------------------------------

    def up(self, progress: Progress = lambda m: None, timeout: float = 120.0, recreate: bool = False) -> SandboxStatus:
        """Start the sandbox, heal it, or confirm it runs; then wait until it is usable.

        Usable means: API ready, every simulated node Ready, the ``default``
        ServiceAccount present (pods can be created), the scheduler holding
        its lease, and metrics-server answering ``kubectl top nodes``.

        A sandbox whose components died (all or some) is healed: the dead ones
        are started again with their recorded command lines and its data is
        kept. Its state is wiped and a new, empty cluster made only with
        ``recreate`` (or when it never got as far as holding any data).
        """
        with self._lock():
            self._up_started = time.time()
            if self.audit_log and not recreate and self._holds_data() and not self._audit_policy.is_file():
                raise SandboxError(
                    f"sandbox {self.name} was created without an audit log; {self._recreate_hint()} with one"
                )
            if recreate and self.state_dir.exists():
                progress(f"sandbox {self.name}: wiping it (recreate)")
                self._teardown()
            elif self.state_dir.exists():
                if self._status().running:
                    # Fast path: make sure it is supervised, the node set matches and nothing regressed.
                    deadline = time.monotonic() + min(timeout, 30.0)
                    self._adopt()
                    self._apply_nodes()
                    self._wait_ready(deadline, progress, metrics=False)
                    progress(f"sandbox {self.name} already running at {self._server()}")
                    return self._status()
                if self._holds_data():
                    return self._heal(progress, timeout)
                progress(f"sandbox {self.name}: removing what a start that failed left behind (it holds no data)")
                self._teardown()

            binaries = build.ensure_binaries(progress)
            started = time.monotonic()
            deadline = started + timeout
            try:
                self._create(binaries, deadline, progress)
                self._start_supervisor()
                self._apply_nodes()
                progress(f"waiting for {self.nodes} nodes, scheduler" + (" and metrics-server" if self.metrics else ""))
                self._wait_ready(deadline, progress, metrics=self.metrics)
            except BaseException:
                # Never leave half a control plane running; keep the files so
                # the logs stay readable until the next up()/down(), which
                # starts afresh: nobody ever got to put anything in it.
                self._stop_processes()
                if self.state_dir.is_dir():
                    self._failed_marker.touch()
                raise
            status = self._status()
            progress(f"sandbox {self.name} ready at {status.server} in {time.monotonic() - started:.1f}s")
            return status

    def down(self) -> None:
        """Stop the supervisor, then exactly the processes this sandbox started, then remove its state."""
        with self._lock():
            self._teardown()

    def status(self) -> SandboxStatus:
        return self._status()

    def dry_run(self) -> str:
        """What ``kwokctl create cluster`` would do with our configuration.

        Runs in a scratch workdir so an existing cluster does not short-circuit
        it; the point is to show every binary and manifest is a local path.
        """
        kwokctl = build.binary_path("kwokctl")
        if not kwokctl.is_file():
            raise SandboxError(f"kwokctl is not built yet ({kwokctl}); run `kubesteward sandbox up` first")
        paths = {b: build.binary_path(b) for comp in build.components() for b in comp.packages}
        with tempfile.TemporaryDirectory(prefix="kubesteward-dry-run-") as tmp:
            scratch = Sandbox(self.name, self.nodes, Path(tmp), audit_log=self.audit_log)
            config = scratch._write_config(paths)
            proc = subprocess.run(
                [str(kwokctl), "--dry-run", *scratch._create_args(config)],
                env=scratch._env(paths),
                capture_output=True,
                text=True,
                timeout=60,
            )
        if proc.returncode != 0:
            raise SandboxError(f"kwokctl --dry-run failed: {_last_line(proc.stderr or proc.stdout)}")
        return proc.stdout + proc.stderr

    # -- creation --------------------------------------------------------

    def _create(self, binaries: dict[str, Path], deadline: float, progress: Progress) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        wanted = ports.PORT_OPTIONS + ((ports.METRICS_SERVER_PORT,) if self.metrics else ())
        try:
            chosen = ports.allocate(self.state_dir.parent, self.state_dir, wanted)
        except ports.PortsExhausted as exc:
            raise SandboxError(f"cannot start sandbox {self.name}: {exc}") from None
        config = self._write_config(binaries, chosen)
        progress(f"starting control plane on {LOOPBACK} (kwokctl, binary runtime; API server port {chosen['kubeApiserverPort']})")
        log = self.state_dir / "kwokctl.log"
        with open(log, "w") as out:
            try:
                proc = subprocess.run(
                    [str(binaries["kwokctl"]), *self._create_args(config)],
                    env=self._env(binaries),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=max(1.0, deadline - time.monotonic()),
                )
            except subprocess.TimeoutExpired:
                raise SandboxError(f"kwokctl create cluster timed out; see {log} and {self.logs_dir}") from None
        self.layout.record_from_pidfiles()
        # What kwokctl ran, so any component can be started again once nothing of it is left.
        self.layout.write_specs(self.layout.specs_from_kwokctl(self._env(binaries)))
        if proc.returncode != 0:
            raise SandboxError(
                f"kwokctl create cluster failed: {_last_line(log.read_text())} (see {log} and {self.logs_dir})"
            )
        self._write_kubeconfig()

    def _create_args(self, config: Path) -> list[str]:
        return [
            "--name",
            self.name,
            "create",
            "cluster",
            "--runtime",
            "binary",
            "--config",
            str(config),
            # An empty --kubeconfig stops kwokctl from adding a context to
            # ~/.kube/config (its default); we write our own file instead.
            "--kubeconfig",
            "",
        ]

    def _env(self, binaries: dict[str, Path]) -> dict[str, str]:
        # kwokctl reads dozens of KWOK_* overrides; the user's must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_") and k != "KUBECONFIG"}
        env["KWOK_WORKDIR"] = str(self._kwok_workdir)
        env["KUBECACHEDIR"] = str(self._kube_cache)
        # kwokctl shells out to `kubectl` (kustomize, readiness); ours first.
        dirs = [str(binaries["kubectl"].parent), str(binaries["kwokctl"].parent)]
        env["PATH"] = os.pathsep.join(dirs + [env.get("PATH", "")])
        return env

    def _write_config(self, binaries: dict[str, Path], chosen_ports: Mapping[str, int] | None = None) -> Path:
        manifests = self.state_dir / "metrics-server-manifests"
        manifests.mkdir(parents=True, exist_ok=True)
        (manifests / "metrics-server.yaml").write_text(_METRICS_SERVER_MANIFEST)
        (manifests / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- metrics-server.yaml\n"
        )
        options: dict[str, Any] = {
            "runtime": "binary",
            "bindAddress": LOOPBACK,
            "kubeVersion": versions.KUBERNETES,
            "etcdVersion": versions.ETCD.lstrip("v"),
            "kwokVersion": versions.KWOK,
            "metricsServerVersion": versions.METRICS_SERVER,
            "kubeApiserverBinary": str(binaries["kube-apiserver"]),
            "kubeControllerManagerBinary": str(binaries["kube-controller-manager"]),
            "kubeSchedulerBinary": str(binaries["kube-scheduler"]),
            "kubectlBinary": str(binaries["kubectl"]),
            "etcdBinary": str(binaries["etcd"]),
            "etcdctlBinary": str(binaries["etcdctl"]),
            "kwokControllerBinary": str(binaries["kwok"]),
            "metricsServerBinary": str(binaries["metrics-server"]),
            "metricsServerManifests": [str(manifests)],
            "enable": ["metrics-server"] if self.metrics else [],
            "cacheDir": str(self._kwok_workdir / "cache"),
            # kwokctl stretches node heartbeats and the controller-manager's
            # node monitor 5x by default; keep real-cluster timings so that
            # taints and NotReady handling look like production.
            "heartbeatFactor": 1.0,
            # Explicit ports (see ports.py): left to kwokctl, two clusters made at once get the same ones.
            **(chosen_ports or {}),
        }
        kwokctl_config = {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": options,
            "componentsPatches": [
                {
                    "name": "metrics-server",
                    "extraArgs": [
                        # kwokctl's 15s makes `kubectl top` wait ~30s after start;
                        # metrics-server wants the scrape timeout below it.
                        {"key": "metric-resolution", "value": "10s", "override": True},
                        {"key": "kubelet-request-timeout", "value": "5s"},
                        # Nodes get realistic (unreachable) InternalIPs; their
                        # Hostname address is the KWOK controller on loopback.
                        {"key": "kubelet-preferred-address-types", "value": "Hostname", "override": True},
                    ],
                }
            ]
            + [
                {
                    "name": component,
                    # Appended: kwokctl's "override" only replaces flags it already sets.
                    "extraArgs": [{"key": k, "value": v} for k, v in flags.items()],
                }
                for component, flags in self._component_flags().items()
            ],
        }
        documents = [yaml.safe_dump(kwokctl_config, sort_keys=False)]
        documents += [text for _name, text in stage_documents()]
        path = self.state_dir / "kwokctl.yaml"
        path.write_text("\n---\n".join(documents))
        return path

    def _component_flags(self) -> dict[str, dict[str, str]]:
        """``extra_args``, plus kube-apiserver's audit flags when the sandbox keeps an audit log."""
        flags = {component: dict(values) for component, values in self.extra_args.items()}
        if self.audit_log:
            self._audit_policy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._audit_policy.write_text(_AUDIT_POLICY)
            flags.setdefault("kube-apiserver", {}).update({
                "audit-policy-file": str(self._audit_policy),
                "audit-log-path": str(self.audit_log_path),
                "audit-log-format": "json",
                # Rotated by size: the controllers' requests alone fill it steadily.
                "audit-log-maxsize": "100",
                "audit-log-maxbackup": "1",
            })
        return flags

    def _write_kubeconfig(self) -> None:
        """Our own self-contained kubeconfig (certificates embedded)."""
        source = self._cluster_dir / "kubeconfig.yaml"
        try:
            data = yaml.safe_load(source.read_text())
            cluster = data["clusters"][0]["cluster"]
            user = data["users"][0]["user"]
            server = str(cluster["server"])
            ca = Path(cluster["certificate-authority"]).read_bytes()
            cert = Path(user["client-certificate"]).read_bytes()
            key = Path(user["client-key"]).read_bytes()
        except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError) as exc:
            raise SandboxError(f"cannot read kwokctl's kubeconfig {source}: {exc}") from None

        def b64(raw: bytes) -> str:
            return base64.b64encode(raw).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
            "users": [{"name": self.name, "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
            "current-context": self.name,
            "preferences": {},
        }
        tmp = self.kubeconfig.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        tmp.replace(self.kubeconfig)

    def _node_objects(self) -> dict[str, Any]:
        items = []
        for i, name in enumerate(self.node_names()):
            node_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{self.name}.kubesteward.local"))
            resources_ = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi"}
            items.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {
                            # KWOK's convention for "a fake node it may manage".
                            "kwok.x-k8s.io/node": "fake",
                            "node.alpha.kubernetes.io/ttl": "0",
                            # All nodes share the KWOK controller's address; this
                            # tells metrics-server which node's path to scrape.
                            "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
                        },
                        "labels": {
                            "type": "kwok",
                            "kubernetes.io/arch": "amd64",
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/role": "agent",
                            "node-role.kubernetes.io/agent": "",
                            "topology.kubernetes.io/zone": _ZONES[i % len(_ZONES)],
                        },
                    },
                    # Status is kept on create (a kubelet registers this way).
                    # KWOK adds the Hostname address (its own loopback server).
                    "status": {
                        "addresses": [{"type": "InternalIP", "address": f"172.18.{i // 250}.{i % 250 + 2}"}],
                        "allocatable": resources_,
                        "capacity": resources_,
                        "nodeInfo": {
                            "architecture": "amd64",
                            "bootID": node_id,
                            "containerRuntimeVersion": f"kwok://{versions.KWOK}",
                            "kernelVersion": f"kwok-{versions.KWOK}",
                            "kubeProxyVersion": versions.KUBERNETES,
                            "kubeletVersion": versions.KUBERNETES,
                            "machineID": node_id.replace("-", ""),
                            "operatingSystem": "linux",
                            "osImage": "KWOK simulated node",
                            "systemUUID": node_id,
                        },
                    },
                }
            )
        return {"apiVersion": "v1", "kind": "List", "items": items}

    def _apply_nodes(self) -> None:
        if self.nodes == 0:
            return
        manifest = json.dumps(self._node_objects())
        proc = self._kubectl(["apply", "-f", "-"], input_text=manifest, timeout=30)
        if proc.returncode != 0:
            raise SandboxError(f"creating simulated nodes failed: {_last_line(proc.stderr)}")

    # -- readiness -------------------------------------------------------

    def _wait_ready(self, deadline: float, progress: Progress, metrics: bool, checks: slice = slice(None)) -> None:
        """Wait for each readiness check in turn (only the ``checks`` slice of them when given)."""
        waits: list[tuple[str, Callable[[], bool]]] = [
            ("API server ready", self._api_ready),
            (f"{self.nodes} nodes Ready", self._nodes_ready),
            ("default ServiceAccount", self._default_sa),
            ("kube-scheduler leader", self._scheduler_leader),
        ]
        if metrics:
            waits += [("metrics API available", self._metrics_api), ("kubectl top nodes", self._top_nodes)]
        for label, check in waits[checks]:
            while not check():
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"sandbox {self.name} not ready in time: still waiting for {label} (logs: {self.logs_dir})"
                    )
                time.sleep(0.5)
            progress(f"ok: {label}")

    def crash(self, component: str, *, downtime: float = 1.0, timeout: float = 60.0) -> None:
        """Kill a component with SIGKILL, keep it down for ``downtime`` seconds, then wait until the
        supervisor has started it again with the same command line and the API answers (chaos for
        watch tests).

        The kill is announced to the supervisor as a pause: it does not restart the component
        before ``downtime`` is over, nor count it as a failure.
        """
        if component not in COMPONENTS:
            raise SandboxError(f"unknown component {component!r} (one of {', '.join(COMPONENTS)})")
        layout = self.layout
        with self._lock():
            self._adopt()
            with layout.record_lock():
                victim = layout.live().get(component)
                if victim is None:
                    raise SandboxError(f"{component} of sandbox {self.name} is not running")
                layout.pause(component, time.time() + downtime)
                try:
                    victim.kill()
                except psutil.Error:
                    pass
            # Until it is reaped: a killed process loses its command line before it closes its
            # sockets, and its main thread turns zombie before the other threads exit. A zombie
            # nobody reaps (its parent is busy) is taken as gone after a while. Outside the
            # record lock: the supervisor reaps its own children under it.
            killed = time.monotonic()
            while victim.is_running() and time.monotonic() - killed < 10:
                if _exited(victim) and time.monotonic() - killed > 2:
                    break
                time.sleep(0.05)
        deadline = time.monotonic() + downtime + timeout
        while True:
            again = layout.live().get(component)
            if again is not None and again.pid != victim.pid and self._api_ready():
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"{component} of sandbox {self.name} did not come back (logs: {self.logs_dir})")
            time.sleep(0.3)

    def _api_ready(self) -> bool:
        return self._kubectl(["get", "--raw", "/readyz"], timeout=5).returncode == 0

    def _nodes_ready(self) -> bool:
        proc = self._kubectl(["get", "nodes", "-l", NODE_LABEL, "-o", "json"], timeout=10)
        if proc.returncode != 0:
            return False
        ready = set()
        for node in json.loads(proc.stdout).get("items", []):
            for cond in node.get("status", {}).get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") == "True":
                    ready.add(node["metadata"]["name"])
        return set(self.node_names()) <= ready

    def _default_sa(self) -> bool:
        return self._kubectl(["get", "serviceaccount", "default", "-n", "default"], timeout=10).returncode == 0

    def _scheduler_leader(self) -> bool:
        """A kube-scheduler holds its lease and renewed it since this ``up`` began (less one renew
        period): the lease of a scheduler that died is still there for up to 15 s, naming it."""
        proc = self._kubectl(
            ["get", "lease", "kube-scheduler", "-n", "kube-system", "-o",
             "jsonpath={.spec.holderIdentity} {.spec.renewTime}"],
            timeout=10,
        )
        fields = proc.stdout.split()
        if proc.returncode != 0 or len(fields) != 2:
            return False
        try:
            renewed = datetime.fromisoformat(fields[1]).timestamp()
        except ValueError:
            return False
        return renewed >= self._up_started - 3.0

    def _metrics_api(self) -> bool:
        proc = self._kubectl(
            [
                "get",
                "apiservice",
                "v1beta1.metrics.k8s.io",
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Available")].status}',
            ],
            timeout=10,
        )
        return proc.returncode == 0 and proc.stdout.strip() == "True"

    def _top_nodes(self) -> bool:
        if self.nodes == 0:
            return True
        proc = self._kubectl(["top", "nodes", "--no-headers"], timeout=15)
        if proc.returncode != 0:
            return False
        seen = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
        return bool(seen & set(self.node_names()))

    def _kubectl(
        self, args: Sequence[str], timeout: float, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(build.binary_path("kubectl")),
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self._kube_cache),
            *args,
        ]
        try:
            return subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, 124, "", f"kubectl {' '.join(args)} timed out")
        except OSError as exc:  # e.g. the binary cache was wiped under a running sandbox
            return subprocess.CompletedProcess(cmd, 127, "", f"cannot run kubectl: {exc}")

    # -- status ----------------------------------------------------------

    def _status(self) -> SandboxStatus:
        layout = self.layout
        alive = layout.live()
        supervisor = supervise.running(layout)
        # Restart counts and last exits stay readable after the supervisor is gone.
        health = layout.read_health()
        pauses = layout.pauses()
        components: dict[str, ComponentStatus] = {}
        for component in self._expected_components():
            seen = health.get(component, {})
            proc = alive.get(component)
            if proc is not None:
                state = "suspended" if _suspended(proc) else "running"
            elif supervisor is None:
                state = "stopped"
            elif pauses.get(component, 0.0) > time.time():
                state = "paused"
            else:
                state = "crash-looping" if seen.get("state") == "crash-looping" else "restarting"
            last_error = seen.get("last_error")
            if proc is None and state != "paused":
                # Why it is down now, even when no supervisor saw it die.
                last_error = last_line(layout.log(component))
            components[component] = ComponentStatus(
                state=state,
                pid=proc.pid if proc is not None else None,
                restarts=int(seen.get("restarts") or 0),
                last_exit=seen.get("last_exit") if supervisor is not None else None,
                last_error=last_error,
                next_restart_in=seen.get("next_restart_in") if state in ("restarting", "crash-looping") else None,
            )
        server = self._server()
        running = (
            server is not None
            and bool(components)
            and all(c.state == "running" for c in components.values())
            and self.kubeconfig.is_file()
            and self._api_ready()
        )
        nodes = 0
        if running:
            listed = self._kubectl(["get", "nodes", "-l", NODE_LABEL, "-o", "name"], timeout=10)
            if listed.returncode == 0:
                nodes = len(listed.stdout.split())
            state = "running"
        elif alive or supervisor is not None or self._stray_processes():
            # Never "stopped" while anything of it still runs.
            state = "degraded"
        else:
            state = "stopped"
        return SandboxStatus(
            name=self.name,
            running=running,
            kubeconfig=self.kubeconfig,
            server=server if running else None,
            pids={c: p.pid for c, p in alive.items()},
            nodes=nodes,
            state=state,
            components=components,
            supervisor=supervisor.pid if supervisor is not None else None,
            ports=ports.read(self.state_dir) if self.state_dir.is_dir() else {},
        )

    def _server(self) -> str | None:
        try:
            data = yaml.safe_load(self.kubeconfig.read_text())
            return str(data["clusters"][0]["cluster"]["server"])
        except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
            return None

    def _expected_components(self) -> list[str]:
        """The components this sandbox was started with: every one, or all but metrics-server
        for a sandbox made with ``metrics=False`` (whatever this object was constructed with:
        ``sandbox status`` does not know)."""
        specs = self.layout.read_specs()
        if specs:
            return [c for c in COMPONENTS if c in specs]
        recorded = self.layout.read_record()
        if not recorded:
            return []
        return [c for c in COMPONENTS if c != "metrics-server" or c in recorded]

    # -- healing ---------------------------------------------------------

    @property
    def _failed_marker(self) -> Path:
        return self.state_dir / "start-failed"

    def _holds_data(self) -> bool:
        """Whether kwokctl made a cluster here that may hold someone's objects: not one whose first
        start failed (nobody got to use it)."""
        return self.layout.kwokctl_config.is_file() and not self._failed_marker.exists()

    def _heal(self, progress: Progress, timeout: float) -> SandboxStatus:
        """Start the dead components of a created sandbox again, keeping its data."""
        layout = self.layout
        started = time.monotonic()
        deadline = started + timeout
        # A wiped binary cache is rebuilt, not a reason to lose the cluster.
        binaries = build.ensure_binaries(progress)
        specs = layout.read_specs() or layout.specs_from_kwokctl(self._env(binaries))
        problem = self._unhealable(specs)
        if problem:
            raise SandboxError(f"sandbox {self.name} cannot be healed: {problem}; {self._recreate_hint()}")
        if not layout.read_specs():
            layout.write_specs(specs)
        with layout.record_lock():
            alive = layout.live()
            dead = [c for c in COMPONENTS if c in specs and c not in alive]
            layout.clear_pauses()
            for component in dead:
                layout.start(component, specs[component])
        if dead:
            progress(f"sandbox {self.name}: started {', '.join(dead)} again with their recorded command lines")
        if not self.kubeconfig.is_file():
            self._write_kubeconfig()
        self._start_supervisor()
        try:
            self._wait_ready(deadline, progress, metrics=False, checks=slice(1))
            self._apply_nodes()
            self._wait_ready(deadline, progress, metrics="metrics-server" in specs, checks=slice(1, None))
        except SandboxError as exc:
            raise SandboxError(f"{exc}; {self._recreate_hint()}") from None
        status = self._status()
        progress(f"sandbox {self.name} healed at {status.server} in {time.monotonic() - started:.1f}s")
        return status

    def _unhealable(self, specs: Mapping[str, Spec]) -> str | None:
        layout = self.layout
        if "etcd" not in specs or "kube-apiserver" not in specs:
            return "the record of how its components were started is gone"
        if not (layout.etcd_data / "member").is_dir():
            return f"its etcd data is gone ({layout.etcd_data})"
        if not (layout.cluster_dir / "pki" / "ca.crt").is_file():
            return "its certificates are gone"
        if not self.kubeconfig.is_file() and not (layout.cluster_dir / "kubeconfig.yaml").is_file():
            return "its kubeconfig is gone"
        for component, spec in specs.items():
            if not os.access(spec.command[0], os.X_OK):
                return f"the {component} binary it was started with is gone ({spec.command[0]})"
        return None

    def _recreate_hint(self) -> str:
        return f"`kubesteward sandbox up --name {self.name} --recreate` wipes it and starts an empty one"

    def _adopt(self) -> None:
        """Make sure a created sandbox is supervised; one made before there was a supervisor
        gets its component record from kwokctl's configuration first."""
        layout = self.layout
        if not layout.read_specs():
            binaries = {b: build.binary_path(b) for b in ("kubectl", "kwokctl")}
            specs = layout.specs_from_kwokctl(self._env(binaries))
            if not specs:
                return
            layout.write_specs(specs)
        self._start_supervisor()

    def _start_supervisor(self) -> None:
        """Start the supervisor unless it runs, and wait until it has looked at every component once."""
        layout = self.layout
        if supervise.running(layout) is not None or supervise.lock_held(layout):
            return
        child = supervise.start(layout)
        end = time.monotonic() + 15.0
        while layout.health_writer() != child.pid:
            code = child.poll()
            if code is not None:
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
                reason = last_line(layout.supervisor_log) or "no output"
                raise SandboxError(f"the supervisor of sandbox {self.name} ended at once ({how}): {reason}")
            if time.monotonic() > end:
                raise SandboxError(f"the supervisor of sandbox {self.name} did not start (see {layout.supervisor_log})")
            time.sleep(0.05)

    # -- processes -------------------------------------------------------

    def _is_ours(self, proc: psutil.Process) -> bool:
        return self.layout.is_ours(proc)

    def _stray_processes(self) -> bool:
        """Whether any process of ours runs that the record does not know (e.g. from a create that died)."""
        return any(self._is_ours(proc) for proc in psutil.process_iter())

    def _stop_processes(self) -> None:
        # The supervisor first: it would start again what we stop.
        supervise.stop(self.layout)
        found = {p.pid: p for p in self.layout.live().values()}
        # A create that died half-way may have started processes before any
        # pid made it into our record; they are still recognisable by our
        # private directory on their command line.
        for proc in psutil.process_iter():
            if proc.pid not in found and self._is_ours(proc):
                found[proc.pid] = proc
        # A short grace: the state is deleted right after, and a kube-apiserver whose clients and
        # etcd go away at the same time can take a long while to finish a graceful shutdown.
        terminate(list(found.values()), self._is_ours, grace=3.0)

    def _teardown(self) -> None:
        self._stop_processes()
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir, ignore_errors=True)
            if self.state_dir.exists():
                raise SandboxError(f"could not remove {self.state_dir}")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Outside state_dir, which down() deletes.
        with file_lock(self.state_dir.parent / f".{self.state_dir.name}.lock"):
            yield


def _exited(proc: psutil.Process) -> bool:
    """Gone or a zombie: its ports are free. (A dying process loses its command line, so
    stops looking like ours, before it closes its sockets.)"""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _suspended(proc: psutil.Process) -> bool:
    """Stopped by a signal (SIGSTOP, a debugger): alive, but not serving."""
    try:
        return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False


def stage_documents() -> list[tuple[str, str]]:
    """The KWOK objects shipped in ``stages/`` as (file name, YAML text), sorted."""
    folder = resources.files("kubesteward.sandbox") / "stages"
    docs = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            docs.append((entry.name, entry.read_text()))
    return docs


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
