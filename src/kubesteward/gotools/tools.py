"""The renderers manifests need, kustomize and helm: pinned versions, and which binary runs.

Which binary: ``KUBESTEWARD_KUSTOMIZE_BINARY``/``KUBESTEWARD_HELM_BINARY`` when set; else the pinned build
in the cache; else the one on ``PATH`` (whatever its version); else the pinned version is built (minutes,
once). :meth:`Tool.describe` says which was used and why, for ``-v``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from kubesteward.gotools.build import Component, Progress, ensure_built, env_var_for, override, wrapper_gomod

# The pinned tags of sigs.k8s.io/kustomize/kustomize/v5 (which reports its module's tag as its version)
# and of helm.sh/helm/v4 (whose go.mod sets the Go toolchain the README asks for).
KUSTOMIZE = "v5.8.1"
HELM = "v4.3.2"


def kustomize_component() -> Component:
    module = "sigs.k8s.io/kustomize/kustomize/v5"
    return Component(
        name="kustomize",
        version=KUSTOMIZE,
        packages={"kustomize": module},
        wrapper_gomod=wrapper_gomod("kustomize", "1.24.0", {module: KUSTOMIZE}),
    )


def helm_component() -> Component:
    module = "helm.sh/helm/v4"
    stamp = f"-X {module}/internal/version.version={HELM} -X {module}/internal/version.gitTreeState=clean"
    return Component(
        name="helm",
        version=HELM,
        packages={"helm": f"{module}/cmd/helm"},
        wrapper_gomod=wrapper_gomod("helm", "1.26.0", {module: HELM}),
        ldflags="-s -w " + stamp,
    )


def components() -> list[Component]:
    """Every renderer, for ``kubesteward sandbox build`` to build them up front."""
    return [kustomize_component(), helm_component()]


class Source(Enum):
    ENV = "environment"
    CACHE = "pinned build"
    PATH = "PATH"


@dataclass(frozen=True)
class Tool:
    """A renderer binary ready to run, and where it came from."""

    name: str
    path: Path
    source: Source
    pinned: str  # the version kubesteward pins (what a CACHE binary is)

    def describe(self) -> str:
        """One line for ``-v``: the binary, its version and why it was chosen."""
        if self.source is Source.CACHE:
            return f"{self.name} {self.pinned} (pinned build): {self.path}"
        why = f"${env_var_for(self.name)}" if self.source is Source.ENV else "found on PATH"
        return f"{self.name} {self.reported_version()} ({why}; kubesteward pins {self.pinned}): {self.path}"

    def reported_version(self) -> str:
        """What the binary says its version is (``unknown`` when it will not say)."""
        args = [str(self.path), "version", "--short"] if self.name == "helm" else [str(self.path), "version"]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        first = done.stdout.strip().splitlines()[:1]
        return first[0] if done.returncode == 0 and first else "unknown"


def _component(name: str) -> Component:
    for comp in components():
        if name in comp.packages:
            return comp
    raise KeyError(name)


def locate(name: str) -> Tool | None:
    """The binary that would run for ``name`` (``kustomize`` or ``helm``) without building, or None."""
    comp = _component(name)
    named = override(name)
    if named is not None:
        return Tool(name, named, Source.ENV, comp.version)
    cached = comp.cached(name)
    if cached.is_file():
        return Tool(name, cached, Source.CACHE, comp.version)
    found = shutil.which(name)
    if found is not None:
        return Tool(name, Path(found), Source.PATH, comp.version)
    return None


def ensure_tool(name: str, progress: Progress = lambda _msg: None) -> Tool:
    """The binary for ``name``, building the pinned version when none is at hand.

    Raises :class:`~kubesteward.gotools.build.BuildError` when it cannot be built (no Go, a failed build)."""
    tool = locate(name)
    if tool is not None:
        return tool
    comp = _component(name)
    ensure_built([comp], progress)
    return Tool(name, comp.cached(name), Source.CACHE, comp.version)
