"""The workload codes (KS2xx): controllers that do not deliver the pods they promise."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

KS201 = define(
    "KS201",
    "Deployment unavailable",
    area="workloads",
    severity=Severity.ERROR,
    rank=55,
    explanation="""
The Deployment does not have the minimum number of available replicas: its Available
condition is False (MinimumReplicasUnavailable: fewer than replicas - maxUnavailable pods
have been Ready for minReadySeconds), or no replica is available at all. Clients of its
Service see errors or reduced capacity. This is a symptom: the pods say why (their own
findings, summarised in `pods`). kubesteward reports it only when a pod is clearly
failing (CrashLoopBackOff, ImagePullBackOff, ...), has been unready or Pending
(including Unschedulable) longer than the grace thresholds, or the condition has been False that long;
a rollout that is merely in progress stays silent.
""",
    remediation=steps(
        Step("Follow the rollout", "kubectl rollout status deployment/<name> -n <ns>"),
        Step("Read its conditions and events", "kubectl describe deployment <name> -n <ns>"),
        Step("Look at the pods", "kubectl get pods -n <ns> -l <selector>"),
        Step("Then at one that fails", "kubectl describe pod <pod> -n <ns>"),
        Step("Read a crashing container's last run", "kubectl logs <pod> -n <ns> --previous"),
        Step("Fix the cause the pod findings name"),
        Step("If a recent rollout broke it, roll back", "kubectl rollout undo deployment/<name> -n <ns>"),
    ),
)


KS202 = define(
    "KS202",
    "Deployment rollout stuck (progress deadline exceeded)",
    area="workloads",
    severity=Severity.ERROR,
    rank=55,
    explanation="""
The Deployment's Progressing condition is False with reason ProgressDeadlineExceeded: the
newest ReplicaSet made no progress (no new pod became available) for
progressDeadlineSeconds (600s by default). The controller stops reporting progress but keeps
trying; old replicas keep serving if there are any. Usually the new pods crash, cannot pull
their image, cannot be scheduled, or cannot be created (quota, admission). Severity is
ERROR when the Deployment is also unavailable, WARNING while old replicas still serve.
Evidence names the newest ReplicaSet and summarises its pods' state.
""",
    remediation=steps(
        Step("Follow the rollout", "kubectl rollout status deployment/<name> -n <ns>"),
        Step("Read the new ReplicaSet's FailedCreate events", "kubectl describe rs <replica_set> -n <ns>"),
        Step("Look at the new pods: `kubectl describe pod`, `kubectl logs --previous`"),
        Step("Roll back while you fix it", "kubectl rollout undo deployment/<name> -n <ns>"),
        Step("If the rollout is just slow (large images, slow start), raise `spec.progressDeadlineSeconds`"),
    ),
)


KS203 = define(
    "KS203",
    "Deployment has fewer ready replicas than desired",
    area="workloads",
    severity=Severity.WARNING,
    rank=55,
    explanation="""
The Deployment is still Available (enough replicas for its maxUnavailable budget), but some
of its desired replicas have not been Ready for longer than the grace period
(`pod_not_ready_seconds`, or immediately when a pod is clearly failing). Capacity is
reduced and one more failure may make it unavailable. Rolling updates in progress, with
young pods still starting, are not reported.
""",
    remediation=steps(
        Step("Find the unready pods", "kubectl get pods -n <ns> -l <selector> -o wide"),
        Step(
            "Read why one is unready (readiness probe failures, restarts, node)",
            "kubectl describe pod <pod> -n <ns>",
        ),
        Step("If pods are stuck on one node, check that node; delete a stuck pod to let it be recreated"),
    ),
)


KS204 = define(
    "KS204",
    "Workload cannot create pods",
    area="workloads",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The ReplicaSet behind the workload reports ReplicaFailure=True (reason FailedCreate): the API
server rejected its pod creations, so the missing replicas do not exist at all and no pod
finding explains the shortfall. Typical messages: `exceeded quota` (a ResourceQuota is
full, or requires requests/limits the pod template lacks), `forbidden` by an admission
webhook or Pod Security admission, a missing ServiceAccount. The message is the API
server's own; kubesteward reports it on the Deployment that owns the ReplicaSet (or on the
ReplicaSet if nothing owns it).
""",
    remediation=steps(
        Step("Read the FailedCreate events: they repeat the exact error", "kubectl describe rs <replica_set> -n <ns>"),
        Step(
            "Exceeded quota: free quota, raise it, or lower the template's requests; add requests/limits if the quota "
            "demands them (or a LimitRange default)",
            "kubectl describe resourcequota -n <ns>",
        ),
        Step("Forbidden by admission/Pod Security: adjust the pod template's securityContext, or the policy"),
        Step("Missing ServiceAccount: create it", "kubectl create serviceaccount <serviceaccount> -n <ns>"),
    ),
)


KS205 = define(
    "KS205",
    "Deployment paused mid-rollout",
    area="workloads",
    severity=Severity.INFO,
    rank=70,
    explanation="""
`spec.paused` is true and not every replica runs the current template (or some are
unavailable). While paused, template changes are not rolled out and the progress deadline
is not enforced, so a half-finished rollout stays half-finished. This is usually
intentional (a canary, or batching several changes), hence INFO; a paused Deployment
that is fully rolled out is silent.
""",
    remediation=steps(
        Step("Resume when ready", "kubectl rollout resume deployment/<name> -n <ns>"),
        Step("Then follow the rollout", "kubectl rollout status deployment/<name> -n <ns>"),
    ),
)


KS206 = define(
    "KS206",
    "StatefulSet not ready",
    area="workloads",
    severity=Severity.ERROR,
    rank=55,
    explanation="""
Fewer of the StatefulSet's replicas are Ready than `spec.replicas`. With the default
OrderedReady policy the controller creates pods one at a time, so one stuck pod (often
`<name>-0` waiting for its PersistentVolumeClaim, or crash-looping) blocks every higher
ordinal. ERROR when no replica is ready, WARNING when some are. Reported when a pod is
clearly failing, has been unready/Pending past the grace thresholds, or the controller
emitted warning events (e.g. FailedCreate).
""",
    remediation=steps(
        Step("Look at the pods", "kubectl get pods -n <ns> -l <selector>"),
        Step("Describe the lowest unready ordinal", "kubectl describe pod <pod> -n <ns>"),
        Step("See its volume claims", "kubectl get pvc -n <ns>"),
        Step("Read the StatefulSet's FailedCreate events", "kubectl describe statefulset <name> -n <ns>"),
        Step(
            "A broken template with OrderedReady will not roll forward by itself: fix the template, then delete the "
            "stuck pod so it is recreated from the new revision"
        ),
    ),
)


KS207 = define(
    "KS207",
    "DaemonSet pods not ready",
    area="workloads",
    severity=Severity.ERROR,
    rank=55,
    explanation="""
Some nodes that should run the DaemonSet's pod do not have a Ready one (numberReady <
desiredNumberScheduled, or numberUnavailable > 0). DaemonSets usually carry node
infrastructure (CNI, log shipping, monitoring, CSI drivers), so the affected nodes may be
partly broken. ERROR when no pod is ready, WARNING when some are. Reported only when a pod
is clearly failing or has been unready past the grace thresholds.
""",
    remediation=steps(
        Step("See which nodes are affected", "kubectl get pods -n <ns> -l <selector> -o wide"),
        Step("Describe an unready pod", "kubectl describe pod <pod> -n <ns>"),
        Step("Read its last run", "kubectl logs <pod> -n <ns> --previous"),
        Step("If only some nodes fail, compare them (taints, kernel, resources, node conditions)"),
        Step("Follow the rollout", "kubectl rollout status daemonset/<name> -n <ns>"),
        Step("Roll back after a bad update", "kubectl rollout undo daemonset/<name> -n <ns>"),
    ),
)


KS208 = define(
    "KS208",
    "DaemonSet pods running on nodes they should not",
    area="workloads",
    severity=Severity.WARNING,
    rank=60,
    explanation="""
numberMisscheduled > 0: DaemonSet pods run on nodes that no longer match the DaemonSet's
node selector, affinity or tolerations, typically after node labels or NoSchedule taints
changed. The controller does not remove every such pod by itself (a new NoSchedule taint
leaves existing pods running), so they use resources where the DaemonSet is not meant
to run.
""",
    remediation=steps(
        Step("See the nodes its pods run on", "kubectl get pods -n <ns> -l <selector> -o wide"),
        Step(
            "Compare them with the DaemonSet's nodeSelector/affinity/tolerations",
            "kubectl get ds <name> -n <ns> -o yaml",
        ),
        Step(
            "Either fix the node labels/taints or the DaemonSet's scheduling constraints, or delete the misplaced pods"
        ),
    ),
)


KS209 = define(
    "KS209",
    "Job failed",
    area="workloads",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The Job's Failed condition is True: BackoffLimitExceeded (more pod failures than
`spec.backoffLimit`, 6 by default), DeadlineExceeded (ran longer than
`activeDeadlineSeconds`), PodFailurePolicy, or failed indexes. The Job will not run again
by itself. Evidence has the failure counts and, when its failed pods are still there, the
exit code and reason of the last one. A failed Job of a CronJob whose newer Job succeeded
is history, reported as INFO only.
""",
    remediation=steps(
        Step("Read the Job's events", "kubectl describe job <name> -n <ns>"),
        Step("See why the container exited non-zero", "kubectl logs job/<name> -n <ns>"),
        Step("Or read the failed pod's logs", "kubectl logs <pod> -n <ns>"),
        Step("DeadlineExceeded: make the work faster or raise `spec.activeDeadlineSeconds`"),
        Step(
            "After fixing it, re-run: delete and re-create the Job",
            "kubectl get job <name> -n <ns> -o yaml | kubectl replace --force -f -",
        ),
        Step(
            "Or, for a CronJob's Job, run the CronJob now",
            "kubectl create job <cronjob>-manual --from=cronjob/<cronjob> -n <ns>",
        ),
    ),
)


KS210 = define(
    "KS210",
    "CronJob's recent runs failed",
    area="workloads",
    severity=Severity.ERROR,
    rank=45,
    explanation="""
The most recent finished Job(s) created by this CronJob failed. kubesteward looks at the
Jobs the CronJob owns (as many as its history limits keep), orders them by start time and
counts consecutive failures from the newest finished one; the Job finding next to this
one has the failure details. An older failure followed by a success is not reported.
""",
    remediation=steps(
        Step("See the failed Job's finding, and its log", "kubectl logs job/<job> -n <ns>"),
        Step("After fixing, trigger a run now", "kubectl create job <cronjob>-manual --from=cronjob/<cronjob> -n <ns>"),
    ),
)


KS211 = define(
    "KS211",
    "CronJob suspended",
    area="workloads",
    severity=Severity.INFO,
    rank=70,
    explanation="""
`spec.suspend` is true: the CronJob creates no new Jobs until resumed (running Jobs
continue). Usually deliberate (maintenance); reported so a forgotten suspension is visible.
""",
    remediation=steps(
        Step("Resume it", """kubectl patch cronjob <name> -n <ns> -p '{"spec":{"suspend":false}}'"""),
    ),
)


KS212 = define(
    "KS212",
    "CronJob is missing scheduled runs",
    area="workloads",
    severity=Severity.WARNING,
    rank=45,
    explanation="""
Several scheduled times have passed without the CronJob scheduling a Job: walking the
schedule forward from `status.lastScheduleTime` (or the CronJob's creation if it never
ran), at least `cronjob_missed_factor` (3) runs, rounded up, are already due. Common
causes: concurrencyPolicy Forbid with a Job that never finishes (evidence lists active
Jobs), a `startingDeadlineSeconds` shorter than the controller's delay, the CronJob
controller (kube-controller-manager) not running, or a time zone that differs from what
the author expected.
""",
    remediation=steps(
        Step("Read its events (FailedNeedsStart, TooManyMissedTimes)", "kubectl describe cronjob <name> -n <ns>"),
        Step(
            "Active Job stuck with concurrencyPolicy Forbid: inspect it, delete it, and consider "
            "`activeDeadlineSeconds` on the job template",
            "kubectl describe job <job> -n <ns>",
        ),
        Step("Check that kube-controller-manager is healthy (and its logs)", "kubectl get --raw /healthz"),
    ),
)


KS213 = define(
    "KS213",
    "CronJob schedule invalid or never fires",
    area="workloads",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
kubesteward could not evaluate the CronJob's schedule as a standard 5-field cron
expression (minute hour day-of-month month day-of-week, or a macro such as `@daily`), or
the expression never matches a real date (e.g. `0 0 30 2 *`). Such a CronJob never runs.
""",
    remediation=steps(
        Step(
            "Fix `spec.schedule`, e.g. `*/15 * * * *` (every 15 minutes) or `0 3 * * *` (03:00 daily); set "
            "`spec.timeZone` instead of a `CRON_TZ=` prefix"
        ),
        Step("Check it", "kubectl apply --dry-run=server -f <file>"),
    ),
)


KS214 = define(
    "KS214",
    "StatefulSet's governing Service does not exist",
    area="workloads",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
`spec.serviceName` names the Service that governs the StatefulSet's network identity: the
headless Service through which each pod gets its stable DNS name
(`<pod>.<service>.<ns>.svc.cluster.local`). No Service of that name exists in the
StatefulSet's namespace, so those names do not resolve: peers that find each other by them
(database replicas, quorum members, brokers) cannot, although the pods themselves run. The
StatefulSet controller does not create the Service; it must be created alongside. kubesteward
reports this only when it could list the Services of that namespace.
""",
    remediation=steps(
        Step(
            "Create the headless Service it names, selecting its pods",
            "kubectl create service clusterip <service> -n <ns> --clusterip=None -o yaml --dry-run=client "
            "| kubectl set selector --local -f - <selector> -o yaml | kubectl apply -f -",
        ),
        Step(
            "Or, if the Service exists under another name, point `spec.serviceName` at it: the field is immutable, so "
            "recreate the StatefulSet without deleting its pods, then apply the fixed manifest",
            "kubectl delete statefulset <name> -n <ns> --cascade=orphan",
        ),
    ),
)
