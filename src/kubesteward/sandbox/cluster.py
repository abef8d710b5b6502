"""A real local control plane with simulated nodes: ``kubesteward sandbox``.

kwokctl (binary runtime) starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, the KWOK controller and metrics-server as plain processes on
127.0.0.1, all from binaries we built ourselves (see ``build``), with every
download source replaced by a local path. Nodes are ordinary Node objects that
KWOK keeps "alive"; pods are scheduled by the real scheduler and KWOK plays
their status from the stages in ``stages/`` (including the fault labels of
``faults``).

Everything lives under ``state_root()/<name>``: kwokctl's workdir, our own
kubeconfig (never ~/.kube/config), the pids we started and the logs.
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
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import yaml

from kubesteward.errors import SandboxFailure
from kubesteward.sandbox import build, versions
from kubesteward.sandbox.paths import file_lock, state_root

Progress = Callable[[str], None]

# kwokctl names its processes (and pid files) after these.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "metrics-server",
)
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


@dataclass(frozen=True)
class SandboxStatus:
    name: str
    running: bool
    kubeconfig: Path
    server: str | None  # https://127.0.0.1:PORT when running
    pids: dict[str, int] = field(default_factory=dict)  # component -> pid we started
    nodes: int = 0  # simulated nodes seen through the API when running


class SandboxError(SandboxFailure):
    """A one-line, human message about why the sandbox cannot do what was asked."""


@dataclass(frozen=True)
class _Proc:
    component: str
    pid: int
    create_time: float


class Sandbox:
    """One named local cluster. Cheap to construct; nothing happens until ``up``."""

    def __init__(
        self,
        name: str = "kubesteward",
        nodes: int = 3,
        state_dir: Path | None = None,
        extra_args: Mapping[str, Mapping[str, str]] | None = None,
        metrics: bool = True,
    ) -> None:
        """``extra_args`` adds flags per component, e.g. ``{"kube-controller-manager":
        {"kube-api-qps": "500"}}`` for a large benchmark cluster. ``metrics=False``
        runs no metrics-server: its scrape of simulated pods costs the KWOK
        controller ~2.4 CPU-s every 10 s at 10k pods, noise a benchmark of
        something else does not want on two cores."""
        if not _NAME_RE.match(name):
            raise SandboxError(f"invalid sandbox name {name!r}: use 1-40 lowercase letters, digits and '-'")
        if nodes < 0:
            raise SandboxError("the number of nodes cannot be negative")
        self.name = name
        self.nodes = nodes
        self.state_dir = (state_dir if state_dir is not None else state_root() / name).absolute()
        self.extra_args = {component: dict(flags) for component, flags in (extra_args or {}).items()}
        self.metrics = metrics

    # -- layout ----------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def _kwok_workdir(self) -> Path:
        return self.state_dir / "kwok"

    @property
    def _cluster_dir(self) -> Path:
        return self._kwok_workdir / "clusters" / self.name

    @property
    def _record_path(self) -> Path:
        return self.state_dir / "processes.json"

    @property
    def _kube_cache(self) -> Path:
        # kubectl's discovery/http cache, which would default to ~/.kube/cache.
        return self.state_dir / "kube-cache"

    @property
    def logs_dir(self) -> Path:
        return self._cluster_dir / "logs"

    def node_names(self) -> list[str]:
        return [f"kwok-node-{i}" for i in range(self.nodes)]

    # -- public API ------------------------------------------------------

    def up(self, progress: Progress = lambda m: None, timeout: float = 120.0) -> SandboxStatus:
        """Start the sandbox (or confirm it is running) and wait until it is usable.

        Usable means: API ready, every simulated node Ready, the ``default``
        ServiceAccount present (pods can be created), the scheduler holding
        its lease, and metrics-server answering ``kubectl top nodes``.
        """
        with self._lock():
            current = self._status()
            if current.running:
                # Fast path: make sure the node set matches and nothing regressed.
                deadline = time.monotonic() + min(timeout, 30.0)
                self._apply_nodes()
                self._wait_ready(deadline, progress, metrics=False)
                progress(f"sandbox {self.name} already running at {current.server}")
                return self._status()
            if self.state_dir.exists():
                progress(f"sandbox {self.name}: cleaning up stale state")
                self._teardown()

            binaries = build.ensure_binaries(progress)
            started = time.monotonic()
            deadline = started + timeout
            try:
                self._create(binaries, deadline, progress)
                self._apply_nodes()
                progress(f"waiting for {self.nodes} nodes, scheduler" + (" and metrics-server" if self.metrics else ""))
                self._wait_ready(deadline, progress, metrics=self.metrics)
            except BaseException:
                # Never leave half a control plane running; keep the files so
                # the logs stay readable until the next up()/down().
                self._stop_processes()
                raise
            status = self._status()
            progress(f"sandbox {self.name} ready at {status.server} in {time.monotonic() - started:.1f}s")
            return status

    def down(self) -> None:
        """Stop exactly the processes this sandbox started, then remove its state."""
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
            scratch = Sandbox(self.name, self.nodes, Path(tmp))
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
        config = self._write_config(binaries)
        progress(f"starting control plane on {LOOPBACK} (kwokctl, binary runtime)")
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
        self._save_record()
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

    def _write_config(self, binaries: dict[str, Path]) -> Path:
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
                for component, flags in self.extra_args.items()
            ],
        }
        documents = [yaml.safe_dump(kwokctl_config, sort_keys=False)]
        documents += [text for _name, text in stage_documents()]
        path = self.state_dir / "kwokctl.yaml"
        path.write_text("\n---\n".join(documents))
        return path

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

    def _wait_ready(self, deadline: float, progress: Progress, metrics: bool) -> None:
        checks: list[tuple[str, Callable[[], bool]]] = [
            ("API server ready", self._api_ready),
            (f"{self.nodes} nodes Ready", self._nodes_ready),
            ("default ServiceAccount", self._default_sa),
            ("kube-scheduler leader", self._scheduler_leader),
        ]
        if metrics:
            checks += [("metrics API available", self._metrics_api), ("kubectl top nodes", self._top_nodes)]
        for label, check in checks:
            while not check():
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"sandbox {self.name} not ready in time: still waiting for {label} (logs: {self.logs_dir})"
                    )
                time.sleep(0.5)
            progress(f"ok: {label}")

    def crash(self, component: str, *, downtime: float = 1.0, timeout: float = 60.0) -> None:
        """Kill a component with SIGKILL, keep it down for ``downtime`` seconds, start it again
        with the same command line, and wait until the API answers (chaos for watch tests).

        The new process gets kwokctl's pid file and our record, so ``down`` stops it.
        """
        if component not in COMPONENTS:
            raise SandboxError(f"unknown component {component!r} (one of {', '.join(COMPONENTS)})")
        with self._lock():
            pidfile = self._cluster_dir / "pids" / f"{component}.pid"
            try:
                proc = psutil.Process(int(pidfile.read_text().strip()))
                if not self._is_ours(proc):
                    raise psutil.NoSuchProcess(proc.pid)
                command, cwd, env = proc.cmdline(), proc.cwd(), proc.environ()
            except (OSError, ValueError, psutil.Error):
                raise SandboxError(f"{component} of sandbox {self.name} is not running") from None
            proc.kill()
            proc.wait(10)
            time.sleep(downtime)
            log = open(self.logs_dir / f"{component}.restarted.log", "ab")  # noqa: SIM115 - the child keeps it
            with log:
                restarted = subprocess.Popen(
                    command, cwd=cwd, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            pidfile.write_text(f"{restarted.pid}\n")
            self._save_record()
        deadline = time.monotonic() + timeout
        while not self._api_ready():
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
        proc = self._kubectl(
            ["get", "lease", "kube-scheduler", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"],
            timeout=10,
        )
        return proc.returncode == 0 and bool(proc.stdout.strip())

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
        procs = self._live_processes()
        pids = {p.component: p.pid for p in procs}
        server = self._server()
        running = (
            server is not None
            and self._started_components() <= set(pids)
            and self.kubeconfig.is_file()
            and self._api_ready()
        )
        nodes = 0
        if running:
            proc = self._kubectl(["get", "nodes", "-l", NODE_LABEL, "-o", "name"], timeout=10)
            if proc.returncode == 0:
                nodes = len(proc.stdout.split())
        return SandboxStatus(
            name=self.name,
            running=running,
            kubeconfig=self.kubeconfig,
            server=server if running else None,
            pids=pids,
            nodes=nodes,
        )

    def _server(self) -> str | None:
        try:
            data = yaml.safe_load(self.kubeconfig.read_text())
            return str(data["clusters"][0]["cluster"]["server"])
        except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
            return None

    # -- processes -------------------------------------------------------

    def _marker(self) -> str:
        # Every component we start is given files inside this directory on
        # its command line; nothing else on the machine is.
        return str(self._cluster_dir) + os.sep

    def _is_ours(self, proc: psutil.Process) -> bool:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
                return False
            marker = self._marker()
            return any(marker in arg for arg in proc.cmdline()[1:])
        except (psutil.Error, OSError):
            return False

    def _pidfile_processes(self) -> list[_Proc]:
        """Processes kwokctl says it started, confirmed by their command line."""
        found = []
        for component in COMPONENTS:
            try:
                pid = int((self._cluster_dir / "pids" / f"{component}.pid").read_text().strip())
                proc = psutil.Process(pid)
            except (OSError, ValueError, psutil.Error):
                continue
            if self._is_ours(proc):
                found.append(_Proc(component, pid, proc.create_time()))
        return found

    def _save_record(self) -> None:
        record = {p.component: {"pid": p.pid, "create_time": p.create_time} for p in self._pidfile_processes()}
        self._record_path.write_text(json.dumps(record, indent=2) + "\n")

    def _started_components(self) -> set[str]:
        """The components this sandbox was started with: every one, or all but
        metrics-server for a sandbox made with ``metrics=False`` (whatever this
        object was constructed with: ``sandbox status`` does not know)."""
        try:
            recorded = set(json.loads(self._record_path.read_text()))
        except (OSError, ValueError, TypeError):
            recorded = set()
        return set(COMPONENTS) - ({"metrics-server"} if "metrics-server" not in recorded else set())

    def _live_processes(self) -> list[_Proc]:
        """Our processes that are still alive: pid, start time and command line all match."""
        try:
            record = json.loads(self._record_path.read_text())
        except (OSError, ValueError):
            return []
        alive = []
        for component, entry in record.items():
            try:
                proc = psutil.Process(int(entry["pid"]))
                same_start = abs(proc.create_time() - float(entry["create_time"])) < 0.5
            except (psutil.Error, KeyError, TypeError, ValueError):
                continue
            if same_start and self._is_ours(proc):
                alive.append(_Proc(component, proc.pid, proc.create_time()))
        return alive

    def _stop_processes(self) -> None:
        procs: dict[int, psutil.Process] = {}
        for known in self._live_processes() + self._pidfile_processes():
            try:
                procs[known.pid] = psutil.Process(known.pid)
            except psutil.Error:
                pass
        # A create that died half-way may have started processes before any
        # pid made it into our record; they are still recognisable by our
        # private directory on their command line.
        for proc in psutil.process_iter():
            if proc.pid not in procs and self._is_ours(proc):
                procs[proc.pid] = proc
        _terminate(list(procs.values()), self._is_ours)

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


def _terminate(procs: list[psutil.Process], still_ours: Callable[[psutil.Process], bool]) -> None:
    """SIGTERM, then SIGKILL after a short grace; re-checking identity before each signal.

    The grace is short on purpose: the state is deleted right after, and a
    kube-apiserver whose clients and etcd go away at the same time can take
    10s+ to finish its graceful shutdown.
    """
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        targets = [p for p in procs if still_ours(p)]
        if not targets:
            return
        for proc in targets:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        # Not our children, so we cannot wait(); and without a reaping init
        # they linger as zombies, which count as gone.
        end = time.monotonic() + grace
        while time.monotonic() < end and any(still_ours(p) for p in targets):
            time.sleep(0.1)


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
