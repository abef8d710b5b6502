"""The policy codes of containers (KS700–KS719): resources, probes, images, pull policy."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

_MEASURE = Step("Measure what the container uses under load, then set its requests a little above",
                "kubectl top pod -n <ns> --containers")

# -- resources (KS700–KS704) ----------------------------------------------------------------------

KS700 = define(
    "KS700",
    "Container without a CPU request",
    area="containers",
    severity=Severity.WARNING,
    explanation="""
A container (init containers included; not ephemeral debug containers, which cannot set resources) sets
neither `resources.requests.cpu` nor `resources.limits.cpu`; with a limit alone the API server makes the
request equal to it, so that is not reported. A LimitRange of the same namespace in the same set with a
container `defaultRequest.cpu` or `default.cpu` fills it at admission, and pod-level resources
(`spec.resources`, Kubernetes 1.34+) cover every container, so neither is reported. Without a request
the scheduler places the pod as if it used no CPU and, under contention, the container gets the smallest
share of the node's CPU: it slows down when a neighbour is busy.
""",
    remediation=steps(
        Step("Set `resources.requests.cpu` of container <container> (e.g. `100m`)",
             "kubectl explain pod.spec.containers.resources.requests"),
        _MEASURE,
    ),
)

KS701 = define(
    "KS701",
    "Container without a memory request",
    area="containers",
    severity=Severity.ERROR,
    explanation="""
A container (init containers included) sets neither `resources.requests.memory` nor
`resources.limits.memory` (with a limit alone the API server makes the request equal to it), no
LimitRange of its namespace in the same set defaults one, and the pod sets no pod-level memory
(`spec.resources`). The scheduler then places the pod as if it used no memory, so nodes are
overcommitted on the one resource that cannot be throttled: the node runs out, and the kubelet evicts
pods or the kernel OOM-kills them. A pod with no request at all is BestEffort, the first evicted.
""",
    remediation=steps(
        Step("Set `resources.requests.memory` of container <container> to its working set plus headroom",
             "kubectl explain pod.spec.containers.resources.requests"),
        _MEASURE,
    ),
)

KS702 = define(
    "KS702",
    "Container without a memory limit",
    area="containers",
    severity=Severity.ERROR,
    explanation="""
A container (init containers included) sets no `resources.limits.memory`, no LimitRange of its namespace
in the same set defaults one (`default.memory` for type Container), and the pod sets no pod-level memory
limit (`spec.resources.limits.memory`, which bounds all its containers together). A leak or a burst then
grows until the node runs out of memory, and the kernel's OOM killer or the kubelet's eviction picks
victims among every pod of the node, not just this one. With a limit, only this container is killed
(OOMKilled) and restarted.
""",
    remediation=steps(
        Step("Set `resources.limits.memory` of container <container> above its peak (equal to the request "
             "makes the pod Guaranteed)", "kubectl explain pod.spec.containers.resources.limits"),
        _MEASURE,
    ),
)

KS703 = define(
    "KS703",
    "Container without a CPU limit",
    area="containers",
    severity=Severity.WARNING,
    explanation="""
A container (init containers included) sets no `resources.limits.cpu` and no LimitRange in the set
defaults one. Optional (turn it on with `policy.rules: {KS703: on}`): a CPU limit is enforced by CFS
quota, which throttles the container in every 100 ms period it exceeds, even on an idle node, and adds
latency to bursty services; with requests set, contention is already shared fairly. Turn it on where
tenants must not borrow idle CPU (hard multi-tenancy, cost attribution) or where Guaranteed QoS is
wanted (limits equal to requests, for exclusive CPUs with the static CPU manager).
""",
    remediation=steps(
        Step("Set `resources.limits.cpu` of container <container>, or leave it unset and keep this rule off",
             "kubectl explain pod.spec.containers.resources.limits"),
    ),
)

KS704 = define(
    "KS704",
    "Container requests more than its limit",
    area="containers",
    severity=Severity.ERROR,
    explanation="""
A container's (or the pod's own, `spec.resources`) `resources.requests` of some resource (cpu, memory,
ephemeral-storage, hugepages, extended resources) is larger than its `resources.limits` of the same
resource, compared as quantities (`1Gi` > `1000Mi`). The API server rejects such a pod ("must be less
than or equal to limit"), so the workload's controller cannot create a single pod: the apply succeeds
for a Deployment, and nothing runs.
""",
    remediation=steps(
        Step("Lower the request of container <container> to at most its limit, or raise the limit",
             "kubectl explain pod.spec.containers.resources"),
    ),
)

# -- probes (KS705–KS709) -------------------------------------------------------------------------

KS705 = define(
    "KS705",
    "Container without a liveness probe",
    area="containers",
    severity=Severity.INFO,
    explanation="""
A long-running container (the containers of anything but a Job, a CronJob or a bare Pod with
`restartPolicy` Never or OnFailure; native sidecars, init containers with `restartPolicy: Always`,
included) has no `livenessProbe`. Without one, a process that deadlocks without exiting stays running,
hung, forever: the kubelet restarts only containers that exit. Informational: a liveness probe that
checks dependencies (a database) restarts every replica at once when that dependency fails, which is
worse than none; probe only the process's own health.
""",
    remediation=steps(
        Step("Give container <container> a `livenessProbe` on an endpoint that checks only the process "
             "itself, failing more slowly than its readiness probe",
             "kubectl explain pod.spec.containers.livenessProbe"),
    ),
)

KS706 = define(
    "KS706",
    "Container without a readiness probe",
    area="containers",
    severity=Severity.WARNING,
    explanation="""
A long-running container (as for KS705: not a Job's, a CronJob's or a run-to-completion Pod's) has no
`readinessProbe`. The pod is then Ready as soon as its containers start: Services send it traffic before
the application listens, and a rolling update counts a new pod available while it is still booting (or
failing), so a bad version replaces the good one without a pause.
""",
    remediation=steps(
        Step("Give container <container> a `readinessProbe` that succeeds only when it can serve",
             "kubectl explain pod.spec.containers.readinessProbe"),
    ),
)

KS707 = define(
    "KS707",
    "Container with a liveness probe but no startup probe",
    area="containers",
    severity=Severity.INFO,
    explanation="""
A container has a `livenessProbe` and no `startupProbe`. Optional (turn it on with `policy.rules:
{KS707: on}`): the liveness probe runs from the start (after `initialDelaySeconds`), so a start slower
than that delay plus `failureThreshold` × `periodSeconds` is killed and restarted forever. A startup
probe holds the liveness probe back until the application has started, however long that takes, without
making the liveness probe slow to react later.
""",
    remediation=steps(
        Step("Add a `startupProbe` on the same check as the liveness probe, with failureThreshold × "
             "periodSeconds above the slowest start", "kubectl explain pod.spec.containers.startupProbe"),
    ),
)

KS708 = define(
    "KS708",
    "Liveness probe gives up no later than the readiness probe",
    area="containers",
    severity=Severity.WARNING,
    explanation="""
A container's `livenessProbe` runs the same check as its `readinessProbe` (the same `httpGet`,
`tcpSocket`, `exec` or `grpc` handler) and gives up no later: its `failureThreshold` × `periodSeconds`
is at most the readiness probe's (defaults 3 × 10 s). A pod that is merely overloaded or waiting on a
dependency then gets killed at the moment it would have been taken out of the Service to recover, and
its load moves to the other replicas, which fail the same way: a cascading restart instead of shed load.
""",
    remediation=steps(
        Step("Point the liveness probe of container <container> at a cheaper check of the process alone, or "
             "make it fail much later than readiness (a higher failureThreshold)",
             "kubectl explain pod.spec.containers.livenessProbe.failureThreshold"),
    ),
)

# -- images (KS710–KS713) -------------------------------------------------------------------------

KS710 = define(
    "KS710",
    "Image without a version (latest or no tag)",
    area="containers",
    severity=Severity.ERROR,
    explanation="""
A container's (init and ephemeral containers included) image has no digest and either no tag (`nginx`)
or the tag `latest`. Which image runs then depends on when each node pulled it: replicas differ, a
restart can upgrade silently, and a rollback restores the same floating reference, so it rolls nothing
back.
""",
    remediation=steps(
        Step("Set the image of container <container> to an immutable version tag or a digest (`app:1.4.2`, "
             "`app@sha256:...`)", "kubectl explain pod.spec.containers.image"),
    ),
)

KS711 = define(
    "KS711",
    "Image not pinned by digest",
    area="containers",
    severity=Severity.INFO,
    explanation="""
A container's image (init and ephemeral containers included) names a tag without a digest (`app:1.4.2`,
not `app:1.4.2@sha256:...`). Optional (turn it on with `policy.rules: {KS711: on}`): a tag can be moved
to other content by anyone who can push to the registry, so what runs is whatever the tag points at when
a node pulls it; a digest names exactly one image, which supply-chain policies (signatures, provenance)
can then vouch for.
""",
    remediation=steps(
        Step("Pin the image of container <container> by digest, keeping the tag for readers", "crane digest <image>"),
    ),
)

KS712 = define(
    "KS712",
    "Image from a registry that is not allowed",
    area="containers",
    severity=Severity.ERROR,
    explanation="""
A container's image (init and ephemeral containers included) does not come from one of
`policy.settings.allowedRegistries`. Entries are registry hosts (`registry.example.com`) or host/path
prefixes (`ghcr.io/org/`), matched whole path components at a time against the image as the runtime
resolves it (`nginx` is `docker.io/library/nginx`). Checked only when the setting lists registries.
Images from elsewhere bypass the scanning, signing and mirroring the allowed registries provide.
""",
    remediation=steps(
        Step("Mirror the image into an allowed registry and reference it there, or add its registry to "
             "`policy.settings.allowedRegistries`"),
        Step("See the image the container runs", "kubectl explain pod.spec.containers.image"),
    ),
)

KS713 = define(
    "KS713",
    "Image pull policy serves stale or missing images",
    area="containers",
    severity=Severity.WARNING,
    explanation="""
A container (init and ephemeral containers included) sets `imagePullPolicy: Never`, or sets
`IfNotPresent` for an image without a version (tag `latest` or none, no digest, where the API server's
default would have been Always). With `Never`, a pod lands only on nodes that already hold the image
(ErrImageNeverPull everywhere else); with `IfNotPresent` on a floating reference, each node keeps
whichever `latest` it pulled first, so replicas run different code. An explicit `Always`, or the
default, is not reported: on a tagged or pinned image the pull is a cheap manifest check.
""",
    remediation=steps(
        Step("Remove `imagePullPolicy` from container <container> (the default follows the tag), or pin the "
             "image and keep IfNotPresent", "kubectl explain pod.spec.containers.imagePullPolicy"),
    ),
)
