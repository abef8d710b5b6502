"""Dev-time generator for kubesteward's KWOK stage files (not shipped): edit the
templates or this script, then run `python tools/gen_stages.py` from the repository.

Node and pod fault stages share one status template each, so every stage in a
file renders the same "desired status for these labels"; only selectors,
delays and events differ.
"""
import textwrap, pathlib

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE.parent / "src" / "kubesteward" / "sandbox" / "stages"
OUT.mkdir(parents=True, exist_ok=True)

def block(text, indent):
    return textwrap.indent(text.rstrip("\n") + "\n", " " * indent)

FAULT = "'.metadata.labels[\"kubesteward.io/fault\"]'"
POD_FAULTS = ["crashloop-oom", "crashloop-error", "image-pull", "not-ready"]

def expr(key, op, values=None):
    s = f"    - key: {key}\n      operator: '{op}'\n"
    if values is not None:
        s += "      values:\n" + "".join(f"      - '{v}'\n" for v in values)
    return s

def stage(name, kind, comment, exprs, tpl, weight=None, delay=None, event=None, immediate=False):
    s = f"---\n# {comment}\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: {name}\nspec:\n"
    s += f"  resourceRef:\n    apiGroup: v1\n    kind: {kind}\n"
    s += "  selector:\n    matchExpressions:\n" + "".join(exprs)
    if weight is not None:
        s += f"  weight: {weight}\n"
    if delay:
        s += "  delay:\n" + block(delay, 4)
    s += "  next:\n"
    if event:
        t, r, m = event
        s += f"    event:\n      type: {t}\n      reason: {r}\n      message: '{m}'\n"
    s += "    statusTemplate: |\n" + block(tpl, 6)
    return s

node_tpl = (HERE / "stage_templates" / "node_tpl.txt").read_text()
pod_tpl = (HERE / "stage_templates" / "pod_tpl.txt").read_text()
READY = "'.status.conditions.[] | select( .type == \"Ready\" ) | .status'"
MP = "'.status.conditions.[] | select( .type == \"MemoryPressure\" ) | .status'"

node = """# Node lifecycle for kubesteward's sandbox (generated; keep templates identical).
#
# KWOK uses these instead of its defaults (node/fast + node/heartbeat-with-lease).
# Every stage renders the same fault-aware status: conditions follow the
# kubesteward.io/fault label (not-ready -> Ready=False, memory-pressure ->
# MemoryPressure=True) and lastTransitionTime only moves when a status flips.
# Selectors only match nodes whose status differs from what the label asks
# for, so each stage fires once per transition instead of looping.
"""
node += stage("node-initialize", "Node",
    "New nodes, and nodes recovering from not-ready once the label is gone.",
    [expr(READY, "NotIn", ["True"]), expr(FAULT, "NotIn", ["not-ready"])], node_tpl)
node += stage("node-heartbeat-with-lease", "Node",
    "Refresh conditions now and then; liveness itself comes from the node lease.",
    [expr("'.status.phase'", "In", ["Running"]), expr(READY, "In", ["True"])], node_tpl,
    delay="durationMilliseconds: 600000\njitterDurationMilliseconds: 610000\n")
node += stage("node-fault-not-ready", "Node",
    "kubesteward.io/fault=not-ready: Ready=False (reason KubeletNotReady).",
    [expr(FAULT, "In", ["not-ready"]), expr(READY, "NotIn", ["False"])], node_tpl, weight=10000,
    event=("Normal", "NodeNotReady", "Node status is now: NodeNotReady"))
node += stage("node-fault-memory-pressure", "Node",
    "kubesteward.io/fault=memory-pressure: MemoryPressure=True, Ready stays True.",
    [expr(FAULT, "In", ["memory-pressure"]), expr(MP, "NotIn", ["True"])], node_tpl, weight=10000,
    event=("Normal", "NodeHasInsufficientMemory", "Node status is now: NodeHasInsufficientMemory"))
node += stage("node-fault-recover-memory-pressure", "Node",
    "Label removed (or changed): clear MemoryPressure.",
    [expr(FAULT, "NotIn", ["memory-pressure"]), expr(MP, "In", ["True"])], node_tpl, weight=10000,
    event=("Normal", "NodeHasSufficientMemory", "Node status is now: NodeHasSufficientMemory"))
(OUT / "node.yaml").write_text(node)

NODEL = "'.metadata.deletionTimestamp'"
PHASE = "'.status.phase'"
WAITING = "'.status.containerStatuses.[].state.waiting.reason'"
NOT_READY_DONE = ("'([(.status.conditions // [])[] | select(.type == \"Ready\") | .status] == [\"False\"])"
                  " and ((.status.containerStatuses // []) | any(.state.running != null and .ready == false))'")
UNHEALTHY = "'(.status.containerStatuses // []) | any(.ready == false or .state.running == null)'"
BACKOFF = ("'.metadata.annotations[\"kubesteward.io/restart-interval\"] // "
           "\"\\([10 * pow(2; ([(.status.containerStatuses // [])[].restartCount] | max // 1) - 1), 300] | min | floor)s\"'")

pod = """# Pod fault stages for kubesteward's sandbox (generated; keep templates identical).
#
# Every stage renders the same status: what a kubelet would report for the
# pod's kubesteward.io/fault label (crashloop-oom, crashloop-error,
# image-pull, not-ready, or none = healthy). The optional annotation
# kubesteward.io/fault-container=<name> limits a fault to one container.
# Weight 10000 makes these win over the default pod stages whenever both
# match; selectors only match pods that are not yet in the wanted state.
"""
pod += stage("pod-fault-crashloop-start", "Pod",
    "First crash: container waiting in CrashLoopBackOff, restartCount 1.",
    [expr(FAULT, "In", ["crashloop-oom", "crashloop-error"]), expr(NODEL, "DoesNotExist"),
     expr(PHASE, "In", ["Pending", "Running"]), expr(WAITING, "NotIn", ["CrashLoopBackOff"])],
    pod_tpl, weight=10000, event=("Warning", "BackOff", "Back-off restarting failed container"))
pod += stage("pod-fault-crashloop-restart", "Pod",
    "Each further crash after the kubelet back-off (10s doubling to 5m, or the\n# kubesteward.io/restart-interval annotation, e.g. \"5s\"): restartCount + 1.",
    [expr(FAULT, "In", ["crashloop-oom", "crashloop-error"]), expr(NODEL, "DoesNotExist"),
     expr(PHASE, "In", ["Running"]), expr(WAITING, "In", ["CrashLoopBackOff"])],
    pod_tpl, weight=10000, event=("Warning", "BackOff", "Back-off restarting failed container"),
    delay=f"durationMilliseconds: 10000\ndurationFrom:\n  expressionFrom: {BACKOFF}\n")
pod += stage("pod-fault-image-pull", "Pod",
    "kubesteward.io/fault=image-pull on a pod that has not started: ImagePullBackOff, phase Pending.",
    [expr(FAULT, "In", ["image-pull"]), expr(NODEL, "DoesNotExist"),
     expr(PHASE, "In", ["Pending"]), expr(WAITING, "NotIn", ["ImagePullBackOff"])],
    pod_tpl, weight=10000, event=("Normal", "BackOff", "Back-off pulling image"))
pod += stage("pod-fault-not-ready", "Pod",
    "kubesteward.io/fault=not-ready: running but failing its readiness probe.",
    [expr(FAULT, "In", ["not-ready"]), expr(NODEL, "DoesNotExist"),
     expr(PHASE, "In", ["Pending", "Running"]), expr(NOT_READY_DONE, "NotIn", ["true"])],
    pod_tpl, weight=10000, event=("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"))
pod += stage("pod-fault-recover", "Pod",
    "Fault label removed: containers running and ready again (restartCount kept).",
    [expr(FAULT, "NotIn", POD_FAULTS), expr(NODEL, "DoesNotExist"),
     expr(PHASE, "In", ["Pending", "Running"]), expr(UNHEALTHY, "In", ["true"])],
    pod_tpl, weight=1)
(OUT / "pod-faults.yaml").write_text(pod)
print("written")

# Default pod lifecycle: KWOK's stage/pod/fast, with fault-labelled pods left to
# the fault stages (a fault pod in its wanted state must not be "healed").
# KWOK's own default stages, from the Go module cache (`go mod download sigs.k8s.io/kwok@v0.8.0`).
KWOK = pathlib.Path(
    __import__("subprocess").run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
) / "sigs.k8s.io" / "kwok@v0.8.0" / "kustomize"
fast = """# Default pod lifecycle (KWOK v0.8.0 kustomize/stage/pod/fast), except that
# pod-ready and pod-complete skip pods carrying a kubesteward.io/fault label.
"""
excl = ("    - key: '.metadata.labels[\"kubesteward.io/fault\"]'\n      operator: 'NotIn'\n      values:\n"
        + "".join(f"      - '{v}'\n" for v in POD_FAULTS))
for name in ["pod-ready", "pod-complete", "pod-delete"]:
    text = (KWOK / "stage/pod/fast" / f"{name}.yaml").read_text()
    if name != "pod-delete":
        marker = "    matchExpressions:\n"
        assert marker in text
        text = text.replace(marker, marker + excl, 1)
    fast += "---\n" + text
(OUT / "pod-fast.yaml").write_text(fast)

usage = """# Simulated resource usage (KWOK v0.8.0 kustomize/metrics/usage): every
# container of a pod reports the pod's kwok.x-k8s.io/usage-cpu and
# kwok.x-k8s.io/usage-memory annotations (default 1m / 1Mi); a node reports
# the sum over its pods. metrics-server scrapes it from the kwok controller.
---
""" + (KWOK / "metrics/usage/usage-from-annotation.yaml").read_text()
(OUT / "usage.yaml").write_text(usage)
print("fast+usage written")

# kubelet /metrics/resource as KWOK serves it for metrics-server. Same as KWOK's
# kustomize/metrics/resource, except that nodes add a small system baseline
# (100m CPU, 512Mi): metrics-server drops nodes reporting exactly zero, which
# an empty simulated node otherwise would.
metric = (KWOK / "metrics/resource/metrics-resource.yaml").read_text()
old_cpu = "value: 'node.CumulativeUsage(\"cpu\")'"
old_mem = "value: 'node.Usage(\"memory\")'"
assert old_cpu in metric and old_mem in metric
metric = metric.replace(old_cpu, "value: 'node.CumulativeUsage(\"cpu\") + 0.1 * node.SinceSecond()'")
metric = metric.replace(old_mem, "value: 'node.Usage(\"memory\") + 536870912.0'")
(OUT / "metrics.yaml").write_text(
    "# kubelet /metrics/resource simulated by KWOK (KWOK v0.8.0 kustomize/metrics/resource),\n"
    "# with a node baseline of 100m CPU and 512Mi on top of the pods' usage:\n"
    "# metrics-server ignores nodes that report exactly zero.\n---\n" + metric)
print("metrics written")
