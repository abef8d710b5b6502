"""The pod codes (KS1xx): why a pod does not run, is not Ready, or keeps dying."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

KS101 = define(
    "KS101",
    "Container in CrashLoopBackOff",
    area="pods",
    severity=Severity.ERROR,
    rank=30,
    explanation="""
A container keeps exiting and the kubelet now waits (10s, doubling up to 5m) before
starting it again. The pod is not Ready, so it receives no Service traffic. The cause
is in the container's last termination: its reason and exit code (1: the application
failed, usually at startup; 126/127: command not executable/not found; 137: killed
with SIGKILL, by a failing liveness probe or the OOM killer; 139: segfault; 143:
SIGTERM). kubesteward reads the waiting reason CrashLoopBackOff and the container's
lastState.terminated. OOM kills are reported as KS102 instead.
""",
    remediation=steps(
        Step("Read the output of the run that crashed", "kubectl logs <pod> -n <ns> -c <container> --previous"),
        Step(
            "See its last state, exit code and events (liveness probe failures)",
            "kubectl describe pod <pod> -n <ns>",
        ),
        Step(
            "Exit code 1: fix the error in the log (missing env, unreachable dependency, bad config); 127/126: fix "
            "`command`/`args` or the image's entrypoint; 137 without OOMKilled: a liveness probe "
            "kills it, so give it a "
            "startupProbe or a longer initialDelaySeconds"
        ),
    ),
)


KS102 = define(
    "KS102",
    "Container OOMKilled",
    area="pods",
    severity=Severity.ERROR,
    rank=25,
    explanation="""
The kernel's OOM killer ended the container (reason OOMKilled, exit code 137): it
used more memory than its memory limit, or, without a limit, the node ran out of
memory. Reported as an error while the container is crash-looping on it or has just
been killed, and as a warning when it runs again after an OOM kill within the recent
restart window (it will likely happen again under the same load). The evidence shows
the container's memory limit.
""",
    remediation=steps(
        Step(
            "Raise `resources.limits.memory` (and `requests.memory`) of the container to its peak plus headroom, "
            "measured while it runs",
            "kubectl top pod <pod> -n <ns> --containers",
        ),
        Step(
            "Or fix the leak / bound the memory use: JVM `-XX:MaxRAMPercentage=75`, Node.js `--max-old-space-size`, "
            "Go `GOMEMLIMIT`, worker counts, cache sizes"
        ),
        Step(
            "No memory limit set: the node itself ran out of memory; set requests and limits so the scheduler places "
            "the pod where memory exists"
        ),
    ),
)


KS103 = define(
    "KS103",
    "Image cannot be pulled",
    area="pods",
    severity=Severity.ERROR,
    rank=30,
    explanation="""
The container cannot start because its image cannot be pulled (ErrImagePull,
ImagePullBackOff, InvalidImageName, ErrImageNeverPull). The registry's error, taken
from the pod's "Failed to pull image" events or the waiting message, says why: the
image or tag does not exist, the registry refused the credentials, the node cannot
reach the registry, or the reference is malformed.
""",
    remediation=steps(
        Step("Read the Failed event with the registry's full error", "kubectl describe pod <pod> -n <ns>"),
        Step("Not found / manifest unknown: fix the image name or tag", "docker manifest inspect <image>"),
        Step(
            "Unauthorized / denied: create the pull secret and list it in `imagePullSecrets` (or on "
            "the ServiceAccount)",
            "kubectl create secret docker-registry ...",
        ),
        Step("Timeouts / no such host: check the node's DNS, proxy and egress to the registry"),
    ),
)


KS104 = define(
    "KS104",
    "Pod references a missing ConfigMap, Secret or key",
    area="pods",
    severity=Severity.ERROR,
    rank=20,
    explanation="""
The pod spec uses a ConfigMap or Secret (env valueFrom, envFrom, configMap/secret or
projected volumes) that does not exist in its namespace, or a key that the object
does not have, and the reference is not marked `optional: true`. The kubelet refuses
to start the container (CreateContainerConfigError) or cannot mount the volume
(ContainerCreating with FailedMount events). kubesteward checks every reference
against the loaded ConfigMaps and Secrets (key names only; values are never read) and
only says "missing" when those kinds were loaded for the namespace; this also works
on offline manifests before anything is deployed. A pod that is Ready started before
the object or key went away: that is a warning (it breaks on its next restart).
""",
    remediation=steps(
        Step(
            "Create the object or key (`kubectl create secret generic` for a Secret), or apply the "
            "manifest that should "
            "have created it (check its namespace and name spelling)",
            "kubectl create configmap <configmap> -n <ns> --from-literal=<key>=...",
        ),
        Step(
            "Or fix the reference in the pod template, or mark it `optional: true` if the application copes without it",
        ),
        Step("Read the kubelet's exact error", "kubectl describe pod <pod> -n <ns>"),
    ),
)


KS105 = define(
    "KS105",
    "Container cannot be created",
    area="pods",
    severity=Severity.ERROR,
    rank=30,
    explanation="""
The kubelet could not create or start the container (CreateContainerConfigError,
CreateContainerError, RunContainerError, or a failing lifecycle hook) for a reason
other than a missing ConfigMap/Secret (KS104): for example `runAsNonRoot` with an image
that runs as root, a subPath that does not exist, an invalid command, or a device the
node lacks. The waiting message carries the kubelet's error.
""",
    remediation=steps(
        Step("Read the waiting message and the Failed events", "kubectl describe pod <pod> -n <ns>"),
        Step("runAsNonRoot: set `securityContext.runAsUser` to a non-zero UID or use a non-root image"),
        Step('"executable file not found": fix `command` / the image\'s entrypoint'),
        Step("Missing ConfigMap/Secret not in the model (not loaded): list them", "kubectl get cm,secret -n <ns>"),
    ),
)


KS106 = define(
    "KS106",
    "Pod cannot be scheduled",
    area="pods",
    severity=Severity.ERROR,
    rank=35,
    explanation="""
The scheduler tried and found no node for the pod (condition PodScheduled=False,
reason Unschedulable), so it stays Pending. kubesteward parses the scheduler's message
("0/3 nodes are available: 3 Insufficient cpu, ...") into reasons with node counts:
insufficient cpu/memory/pods (the evidence shows the pod's requests and the largest
node's allocatable), an untolerated taint (named), a nodeSelector/affinity that no
node matches, an unbound or missing PersistentVolumeClaim, a volume node affinity
conflict, cordoned nodes. It is reported as soon as the scheduler says so (the reason
often names the root cause), but as a warning while the pod is younger than the
pending threshold: a cluster autoscaler may still be adding a node.
""",
    remediation=steps(
        Step("Read the FailedScheduling event", "kubectl describe pod <pod> -n <ns>"),
        Step(
            "Insufficient cpu/memory: lower the requests, or add nodes/capacity; a request larger than any node's "
            "allocatable can never fit"
        ),
        Step("Untolerated taint: add a matching `tolerations` entry, or schedule elsewhere"),
        Step(
            "Node selector/affinity mismatch: compare `spec.nodeSelector`/`affinity` with the nodes' labels",
            "kubectl get nodes --show-labels",
        ),
        Step("Unbound PVC: see its StorageClass and provisioner events", "kubectl describe pvc <claim> -n <ns>"),
    ),
)


KS107 = define(
    "KS107",
    "Pod stuck Pending",
    area="pods",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
The pod has been Pending for longer than the pending threshold without a scheduler
verdict or a container problem that explains it: it is bound to a node but its
containers are still being created (ContainerCreating: volumes that cannot be mounted,
a sandbox/CNI failure, a slow image pull), its node does not exist, or no scheduler has
picked it up at all (a `schedulerName` nothing serves). Events on the pod usually name
the culprit (FailedMount, FailedCreatePodSandBox).
""",
    remediation=steps(
        Step(
            "Read the events (FailedMount, FailedAttachVolume, FailedCreatePodSandBox): they say which step is stuck",
            "kubectl describe pod <pod> -n <ns>",
        ),
        Step("Volumes: see the claim, then the CSI driver's pods on that node", "kubectl describe pvc <claim> -n <ns>"),
        Step("Not scheduled, no condition: check `spec.schedulerName` and that scheduler's logs"),
    ),
)


KS108 = define(
    "KS108",
    "Pod Running but not Ready",
    area="pods",
    severity=Severity.WARNING,
    rank=45,
    explanation="""
All containers are running but the pod has not been Ready for longer than the
not-ready threshold, so Services send it no traffic and rollouts that wait for it stall.
Usually a readiness probe keeps failing (the Unhealthy events quote the probe's error),
or a readiness gate is never satisfied. kubesteward reads the Ready condition and its
lastTransitionTime; crash-looping or otherwise failing containers are reported by their
own codes instead.
""",
    remediation=steps(
        Step(
            "Read the Unhealthy events: they show the probe's error (status code, timeout, connection refused)",
            "kubectl describe pod <pod> -n <ns>",
        ),
        Step(
            "Check the probe's path/port/scheme against what the app serves (forward the port and curl it); raise "
            "`timeoutSeconds`/`failureThreshold` if the endpoint is slow; probe a check that does not depend on "
            "downstream services",
            "kubectl port-forward pod/<pod> -n <ns> <port>",
        ),
        Step("Read why the app reports itself unready", "kubectl logs <pod> -n <ns> -c <container>"),
    ),
)


KS109 = define(
    "KS109",
    "Container restarted repeatedly",
    area="pods",
    severity=Severity.WARNING,
    rank=70,
    explanation="""
The container runs now, but it restarted at least `restart_warning_count` times in
this pod's life and the last restart was within `restart_recent_seconds`: it is
flapping (crashing under load, killed by its liveness probe, or exiting on a lost
dependency) and will likely do it again. Restarts whose last one is older than that
window are old news and stay silent; fewer restarts stay silent too. A recent OOM kill
is KS102, a container still crash-looping is KS101.
""",
    remediation=steps(
        Step("Read the log of the run that ended", "kubectl logs <pod> -n <ns> -c <container> --previous"),
        Step("See its last state (reason, exit code) and liveness probe events", "kubectl describe pod <pod> -n <ns>"),
        Step(
            "Exit code 137 without OOMKilled: the liveness probe killed it; make the probe cheaper/longer or add a "
            "startupProbe"
        ),
    ),
)


KS110 = define(
    "KS110",
    "Pod evicted",
    area="pods",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
The kubelet evicted the pod (phase Failed, reason Evicted) to reclaim a resource on its
node: memory, ephemeral storage, or PIDs. Its controller has started a replacement,
but the eviction shows that the node was under pressure or that the pod used more than
it requested. The eviction message names the resource and the container's usage. A
pod whose node is still under pressure names the node as its cause.
""",
    remediation=steps(
        Step("Read the eviction message", "kubectl get pod <pod> -n <ns> -o jsonpath='{.status.message}'"),
        Step(
            "Set requests close to the real usage (memory, `ephemeral-storage`) so the scheduler does not overcommit "
            "the node; bound emptyDir with `sizeLimit`"
        ),
        Step("Delete leftovers once understood", "kubectl delete pod --field-selector=status.phase=Failed -n <ns>"),
    ),
)


KS111 = define(
    "KS111",
    "Pod failed",
    area="pods",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
The pod ended in phase Failed (all containers terminated, at least one with an error,
and restartPolicy does not restart it, or the kubelet rejected it at admission, e.g.
OutOfcpu, NodeAffinity, node shutdown). Nothing will restart it. Pods owned by a Job
are the Job's business and are not reported here; evictions are KS110.
""",
    remediation=steps(
        Step("Read the status reason/message and the containers' exit codes", "kubectl describe pod <pod> -n <ns>"),
        Step("Read the failed container's output", "kubectl logs <pod> -n <ns> -c <container>"),
        Step("Run it under a controller (Deployment, Job) if it should be retried; delete it when done"),
    ),
)


KS112 = define(
    "KS112",
    "Pod stuck Terminating",
    area="pods",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
The pod was deleted (deletionTimestamp, which already includes its grace period) more
than `terminating_stuck_seconds` ago and still exists. Either a finalizer on it was
never removed (the controller that owns the finalizer is gone or failing), or its node
is NotReady/unreachable, so no kubelet confirms that the containers stopped. A
StatefulSet will not start the replacement pod with the same name until this one is
gone.
""",
    remediation=steps(
        Step(
            "Node NotReady/gone: make sure the machine is really down, then force the deletion",
            "kubectl delete pod <pod> -n <ns> --grace-period=0 --force",
        ),
        Step(
            "Finalizers: find the controller that owns each finalizer and fix it; as a last resort, remove them",
            """kubectl patch pod <pod> -n <ns> -p '{"metadata":{"finalizers":null}}'""",
        ),
    ),
)


KS113 = define(
    "KS113",
    "Init container failing, pod stuck in Init",
    area="pods",
    severity=Severity.ERROR,
    rank=30,
    explanation="""
An init container exits with an error (and crash-loops, or the pod cannot restart it),
so the app containers never start and the pod stays in Init. Init containers usually
wait for a dependency, run migrations or fetch configuration, so the failure often
points at something outside the pod. kubesteward reads initContainerStatuses (sidecar
init containers with restartPolicy Always are treated like app containers).
""",
    remediation=steps(
        Step(
            "Read why the init container fails (without `--previous` if it never finished)",
            "kubectl logs <pod> -n <ns> -c <container> --previous",
        ),
        Step("See its last state, exit code and events", "kubectl describe pod <pod> -n <ns>"),
        Step("Fix the dependency it waits for, or its command; check it is idempotent so retries can succeed"),
    ),
)
