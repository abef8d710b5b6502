"""Pinned versions of every binary the local control plane runs.

One place, so the README, the builder and the closing notes agree. etcd is
the exact version Kubernetes v1.35.4 itself depends on (its go.mod), which is
new enough for the RequestWatchProgress feature recent apiservers need.
"""

from __future__ import annotations

KUBERNETES = "v1.35.4"
ETCD = "v3.6.5"
KWOK = "v0.8.0"
METRICS_SERVER = "v0.9.0"

# Staging modules that k8s.io/kubernetes replaces with ./staging/src/...;
# a wrapper module maps each to its published v0.<minor>.<patch> tag.
KUBERNETES_STAGING_MODULES = (
    "api apiextensions-apiserver apimachinery apiserver cli-runtime client-go "
    "cloud-provider cluster-bootstrap code-generator component-base component-helpers "
    "controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation "
    "endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy "
    "kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission "
    "sample-apiserver sample-cli-plugin sample-controller"
).split()
