"""Build the sandbox's control-plane binaries from pinned Go modules.

No registry ships kube-apiserver & co., so we compile them through the Go
module proxy and cache the result by version under the user's cache
directory. A component is rebuilt only when its binaries are missing. Any
binary can be replaced by one the user already has through an environment
variable (``KUBESTEWARD_<NAME>_BINARY``, e.g. ``KUBESTEWARD_KUBE_APISERVER_BINARY``).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubesteward.errors import SandboxFailure
from kubesteward.sandbox import versions
from kubesteward.sandbox.paths import cache_root, file_lock

Progress = Callable[[str], None]


class BuildError(SandboxFailure):
    """The Go toolchain is missing or a build failed."""


@dataclass(frozen=True)
class Component:
    """One Go module (or group of packages) producing some binaries."""

    name: str
    version: str
    # binary name -> Go package path
    packages: dict[str, str]
    # go.mod text of a wrapper module, or None to `go install pkg@version`
    wrapper_gomod: str | None = None
    ldflags: str = "-s -w"

    @property
    def directory(self) -> Path:
        return cache_root() / "bin" / f"{self.name}-{self.version}"


def _kubernetes_component() -> Component:
    version = versions.KUBERNETES
    major, minor, _patch = version.lstrip("v").split(".")
    staging_tag = f"v0.{minor}.{_patch}"
    replaces = "\n".join(
        f"\tk8s.io/{mod} => k8s.io/{mod} {staging_tag}" for mod in versions.KUBERNETES_STAGING_MODULES
    )
    gomod = (
        "module kubesteward.local/kubernetes-build\n\n"
        "go 1.25.0\n\n"
        f"require k8s.io/kubernetes {version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )
    build_date = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamp += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={build_date}",
        ]
    return Component(
        name="kubernetes",
        version=version,
        packages={
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
            "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        },
        wrapper_gomod=gomod,
        ldflags="-s -w " + " ".join(stamp),
    )


def _etcd_component() -> Component:
    # etcd's server module uses replace directives, so it needs a wrapper too.
    gomod = (
        "module kubesteward.local/etcd-build\n\n"
        "go 1.24\n\n"
        f"require (\n\tgo.etcd.io/etcd/server/v3 {versions.ETCD}\n"
        f"\tgo.etcd.io/etcd/etcdctl/v3 {versions.ETCD}\n)\n"
    )
    return Component(
        name="etcd",
        version=versions.ETCD,
        packages={"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"},
        wrapper_gomod=gomod,
    )


def components() -> list[Component]:
    return [
        _etcd_component(),
        _kubernetes_component(),
        Component(
            name="kwok",
            version=versions.KWOK,
            packages={"kwok": "sigs.k8s.io/kwok/cmd/kwok", "kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl"},
        ),
        Component(
            name="metrics-server",
            version=versions.METRICS_SERVER,
            packages={"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
        ),
    ]


def env_var_for(binary: str) -> str:
    return "KUBESTEWARD_" + binary.upper().replace("-", "_") + "_BINARY"


def binary_path(binary: str) -> Path:
    """Where a binary is: the user's override, else our versioned cache."""
    override = os.environ.get(env_var_for(binary))
    if override:
        return Path(override)
    for comp in components():
        if binary in comp.packages:
            return comp.directory / binary
    raise KeyError(binary)


def missing_components() -> list[Component]:
    out = []
    for comp in components():
        if any(not binary_path(b).is_file() for b in comp.packages):
            out.append(comp)
    return out


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "Go toolchain not found on PATH; install Go >= 1.25 to build the sandbox, "
            "or point KUBESTEWARD_<NAME>_BINARY variables at binaries you already have"
        )
    return go


def _run_go(args: list[str], cwd: Path, env: dict[str, str], log: Path, progress: Progress, label: str) -> None:
    """Run one go command, streaming its package list into a counter."""
    with open(log, "a") as log_file:
        log_file.write(f"$ {' '.join(args)}\n")
        log_file.flush()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        count = 0
        for line in proc.stdout:
            log_file.write(line)
            count += 1
            if count % 25 == 0:
                progress(f"{label}: {count} packages")
        code = proc.wait()
    if code != 0:
        tail = log.read_text().splitlines()[-15:]
        raise BuildError(f"{label} failed (exit {code}); see {log}\n" + "\n".join(tail))


def _default_binary_name(package: str) -> str:
    """The name `go build -o dir/` gives a main package (a /vN suffix is skipped)."""
    parts = package.rstrip("/").split("/")
    if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]):
        return parts[-2]
    return parts[-1]


def build_component(comp: Component, progress: Progress) -> None:
    go = _go()
    build_root = cache_root() / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    log = build_root / f"{comp.name}-{comp.version}.log"
    log.write_text("")
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    # -mod=mod lets the wrapper module record the sums it needs by itself.
    env["GOFLAGS"] = "-mod=mod"
    staging = Path(tempfile.mkdtemp(prefix=f".{comp.name}-", dir=build_root))
    try:
        label = f"building {comp.name} {comp.version}"
        progress(label)
        if comp.wrapper_gomod is not None:
            workdir = build_root / f"{comp.name}-{comp.version}"
            workdir.mkdir(exist_ok=True)
            (workdir / "go.mod").write_text(comp.wrapper_gomod)
            args = [go, "build", "-v", "-trimpath", "-ldflags", comp.ldflags, "-o", str(staging) + "/"]
            _run_go(args + list(comp.packages.values()), workdir, env, log, progress, label)
            for binary, pkg in comp.packages.items():
                built = staging / _default_binary_name(pkg)
                if built.name != binary:
                    built.rename(staging / binary)
        else:
            env["GOBIN"] = str(staging)
            for pkg in comp.packages.values():
                args = [go, "install", "-v", "-trimpath", "-ldflags", comp.ldflags, f"{pkg}@{comp.version}"]
                _run_go(args, build_root, env, log, progress, label)
        for binary in comp.packages:
            if not (staging / binary).is_file():
                raise BuildError(f"{label}: {binary} was not produced; see {log}")
        if comp.directory.exists():
            shutil.rmtree(comp.directory)
        comp.directory.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(comp.directory)  # atomic: a half build is never "cached"
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def ensure_binaries(progress: Progress = lambda _msg: None) -> dict[str, Path]:
    """Build whatever is missing, then return every binary's path."""
    with file_lock(cache_root() / "build.lock"):
        for comp in missing_components():
            build_component(comp, progress)
    return {b: binary_path(b) for comp in components() for b in comp.packages}


if __name__ == "__main__":  # pragma: no cover - manual warm-up helper
    import sys
    import time

    started = time.monotonic()
    paths = ensure_binaries(lambda msg: print(f"[{time.monotonic() - started:6.0f}s] {msg}", flush=True))
    for name, path in paths.items():
        print(f"{name}: {path}")
    print(f"done in {time.monotonic() - started:.0f}s", file=sys.stderr)
