"""Build Go programs from pinned modules into the versioned cache.

No registry ships kube-apiserver, kustomize or helm as a Python-installable binary, so they are compiled
through the Go module proxy and cached by version under the user's cache directory (:func:`cache_root`).
A component is rebuilt only when one of its binaries is missing. Any binary can be replaced by one the user
already has through an environment variable (``KUBESTEWARD_<NAME>_BINARY``, e.g.
``KUBESTEWARD_KUBE_APISERVER_BINARY``, ``KUBESTEWARD_HELM_BINARY``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kubesteward.errors import KubestewardError
from kubesteward.gotools.cache import BUILD_LOCK, cache_root, file_lock

Progress = Callable[[str], None]

# Parallel compile jobs: peak memory grows with each (a big module's link takes over a GB), and the machines
# this runs on have two cores.
PARALLEL_JOBS = 2


class BuildError(KubestewardError):
    """The Go toolchain is missing or a build failed."""

    exit_code = 12


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

    def cached(self, binary: str) -> Path:
        """Where this component's build of ``binary`` is cached (whether or not it exists yet)."""
        return self.directory / binary


def wrapper_gomod(name: str, go: str, requires: dict[str, str], replaces: dict[str, str] | None = None) -> str:
    """The go.mod of a wrapper module requiring exact versions: the module proxy refuses version lists, so
    ``go install pkg@version`` of a module with replace directives, or one whose deprecation look-up needs a
    list, cannot work; a module of our own naming every version can."""
    require = "\n".join(f"\t{module} {version}" for module, version in requires.items())
    text = f"module kubesteward.local/{name}-build\n\ngo {go}\n\nrequire (\n{require}\n)\n"
    if replaces:
        lines = "\n".join(f"\t{module} => {target}" for module, target in replaces.items())
        text += f"\nreplace (\n{lines}\n)\n"
    return text


def env_var_for(binary: str) -> str:
    return "KUBESTEWARD_" + binary.upper().replace("-", "_") + "_BINARY"


def override(binary: str) -> Path | None:
    """The binary the user named by ``KUBESTEWARD_<NAME>_BINARY``, if any."""
    value = os.environ.get(env_var_for(binary))
    return Path(value) if value else None


def missing(components: Iterable[Component]) -> list[Component]:
    """The components one of whose binaries is neither overridden nor cached."""
    return [
        comp for comp in components
        if any(not (override(b) or comp.cached(b)).is_file() for b in comp.packages)
    ]


def ensure_built(components: Iterable[Component], progress: Progress = lambda _msg: None) -> None:
    """Build whatever of ``components`` is missing; one build at a time on this machine (a lock in the cache)."""
    wanted = list(components)
    if not missing(wanted):
        return
    with file_lock(cache_root() / BUILD_LOCK):
        for comp in missing(wanted):  # again under the lock: a concurrent build may have made them
            build_component(comp, progress)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "Go toolchain not found on PATH; install Go >= 1.26 to build the pinned tools, "
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
    # -mod=mod lets the wrapper module record the sums it needs by itself; the cache is no VCS checkout.
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    staging = Path(tempfile.mkdtemp(prefix=f".{comp.name}-", dir=build_root))
    common = ["-v", "-trimpath", f"-p={PARALLEL_JOBS}", "-ldflags", comp.ldflags]
    try:
        label = f"building {comp.name} {comp.version}"
        progress(label)
        if comp.wrapper_gomod is not None:
            workdir = build_root / f"{comp.name}-{comp.version}"
            workdir.mkdir(exist_ok=True)
            (workdir / "go.mod").write_text(comp.wrapper_gomod)
            args = [go, "build", *common, "-o", str(staging) + "/"]
            _run_go(args + list(comp.packages.values()), workdir, env, log, progress, label)
            for binary, pkg in comp.packages.items():
                built = staging / _default_binary_name(pkg)
                if built.name != binary:
                    built.rename(staging / binary)
        else:
            env["GOBIN"] = str(staging)
            for pkg in comp.packages.values():
                _run_go([go, "install", *common, f"{pkg}@{comp.version}"], build_root, env, log, progress, label)
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
