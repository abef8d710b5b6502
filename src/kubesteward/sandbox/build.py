"""The sandbox's control-plane binaries: which pinned Go modules make them (``versions.py``).

The building and the versioned cache are :mod:`kubesteward.gotools` (shared with the renderers kustomize and
helm). Any binary can be replaced by one the user already has through an environment variable
(``KUBESTEWARD_<NAME>_BINARY``, e.g. ``KUBESTEWARD_KUBE_APISERVER_BINARY``).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from kubesteward.gotools.build import (
    BuildError,
    Component,
    Progress,
    ensure_built,
    env_var_for,
    missing,
    override,
    wrapper_gomod,
)
from kubesteward.sandbox import versions

__all__ = ["BuildError", "Component", "binary_path", "components", "ensure_binaries", "env_var_for",
           "missing_components"]


def _kubernetes_component() -> Component:
    version = versions.KUBERNETES
    major, minor, _patch = version.lstrip("v").split(".")
    staging_tag = f"v0.{minor}.{_patch}"
    gomod = wrapper_gomod(
        "kubernetes", "1.25.0", {"k8s.io/kubernetes": version},
        replaces={f"k8s.io/{mod}": f"k8s.io/{mod} {staging_tag}" for mod in versions.KUBERNETES_STAGING_MODULES},
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
    gomod = wrapper_gomod(
        "etcd", "1.24", {"go.etcd.io/etcd/server/v3": versions.ETCD, "go.etcd.io/etcd/etcdctl/v3": versions.ETCD}
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


def binary_path(binary: str) -> Path:
    """Where a binary is: the user's override, else our versioned cache."""
    named = override(binary)
    if named is not None:
        return named
    for comp in components():
        if binary in comp.packages:
            return comp.cached(binary)
    raise KeyError(binary)


def missing_components() -> list[Component]:
    return missing(components())


def ensure_binaries(progress: Progress = lambda _msg: None) -> dict[str, Path]:
    """Build whatever is missing, then return every binary's path."""
    ensure_built(components(), progress)
    return {b: binary_path(b) for comp in components() for b in comp.packages}
