"""The policy codes of security (KS720–KS769): the Pod Security Standards' controls and the rest of a pod's hardening.

KS720–KS739 are baseline controls (errors: known privilege escalations), KS740–KS749 restricted
controls (warnings: hardening), KS750–KS759 production hardening outside the standards. Each code
of a standard's control is judged as Pod Security Admission judges it, so `lint` predicts what a
namespace labelled ``pod-security.kubernetes.io/enforce`` rejects.
"""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

_BASELINE_DRY_RUN = Step(
    "See which running pods of the namespace baseline would reject",
    "kubectl label --dry-run=server --overwrite ns <ns> pod-security.kubernetes.io/enforce=baseline",
)
_RESTRICTED_DRY_RUN = Step(
    "See which running pods of the namespace restricted would reject",
    "kubectl label --dry-run=server --overwrite ns <ns> pod-security.kubernetes.io/enforce=restricted",
)

# -- Pod Security Standards: baseline (KS720–KS739) -----------------------------------------------

KS720 = define(
    "KS720",
    "Privileged container",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "Privileged Containers". A container (init and ephemeral containers included) sets
`securityContext.privileged: true`. It then runs with every capability, every device of the node and
no seccomp or AppArmor confinement: root in it is root on the node.
""",
    remediation=steps(
        Step("Remove `privileged: true` from container <container>; grant the one capability it needs instead",
             "kubectl explain pod.spec.containers.securityContext.privileged"),
        _BASELINE_DRY_RUN,
    ),
)

KS721 = define(
    "KS721",
    "Pod shares a host namespace",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "Host Namespaces". The pod sets `hostNetwork`, `hostPID` or `hostIPC` to true. It then
sees the node's network interfaces and every connection on them (and binds ports on the node), the
node's processes (and can signal or trace them, read their environment), or the node's shared memory.
""",
    remediation=steps(
        Step("Remove `hostNetwork`/`hostPID`/`hostIPC` from the pod spec; expose ports through a Service",
             "kubectl explain pod.spec.hostNetwork"),
        _BASELINE_DRY_RUN,
    ),
)

KS722 = define(
    "KS722",
    "Container adds a capability beyond the baseline set",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "Capabilities". A container (init and ephemeral containers included) lists in
`securityContext.capabilities.add` a capability outside the runtime's default set (AUDIT_WRITE, CHOWN,
DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID,
SYS_CHROOT), such as SYS_ADMIN, NET_ADMIN, NET_RAW, SYS_PTRACE or ALL: each is a known way out of the
container or into other workloads' traffic. (Adding a capability of the default set is restricted's
KS744.)
""",
    remediation=steps(
        Step("Remove the capability from container <container>, or suppress the finding with the reason it is needed",
             "kubectl explain pod.spec.containers.securityContext.capabilities"),
        _BASELINE_DRY_RUN,
    ),
)

KS723 = define(
    "KS723",
    "Pod mounts a hostPath volume",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "HostPath Volumes". A pod volume is a `hostPath`. It exposes a directory of the node:
the container runtime's socket, the kubelet's credentials or `/` itself are a node takeover, and
anything written there outlives the pod on that one node.
""",
    remediation=steps(
        Step("Replace the hostPath volume by an emptyDir, a PersistentVolumeClaim, a ConfigMap or a CSI volume",
             "kubectl explain pod.spec.volumes"),
        _BASELINE_DRY_RUN,
    ),
)

KS724 = define(
    "KS724",
    "Container binds a host port",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "Host Ports". A container (init and ephemeral containers included) sets a non-zero
`ports[].hostPort`. The port is opened on the node's address, bypassing NetworkPolicies that select
pods, and limits the workload to one pod per node and port (extra replicas stay Pending).
""",
    remediation=steps(
        Step("Remove `hostPort` from container <container> and expose the port through a Service "
             "(NodePort or LoadBalancer where it must be reached from outside)",
             "kubectl explain pod.spec.containers.ports.hostPort"),
        _BASELINE_DRY_RUN,
    ),
)

KS725 = define(
    "KS725",
    "AppArmor profile overridden",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "AppArmor". The pod's or a container's `securityContext.appArmorProfile.type` is other
than RuntimeDefault or Localhost (i.e. Unconfined), or the pod template carries the deprecated
annotation `container.apparmor.security.beta.kubernetes.io/<container>` with a value other than
`runtime/default` or `localhost/<profile>` (Pod Security Admission still judges it). Unconfined turns
off the mandatory access control that blocks writes to /proc and /sys and mounts.
""",
    remediation=steps(
        Step("Remove the override, or set `appArmorProfile: {type: RuntimeDefault}`",
             "kubectl explain pod.spec.securityContext.appArmorProfile"),
        _BASELINE_DRY_RUN,
    ),
)

KS726 = define(
    "KS726",
    "Custom SELinux options",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "SELinux". The pod's or a container's `securityContext.seLinuxOptions` sets a `user` or
a `role`, or a `type` other than container_t, container_init_t, container_kvm_t (and
container_engine_t from Kubernetes 1.31, per `policy.settings.targetVersion`). Such labels can grant
the container the SELinux domain of a host service, escaping its confinement. `level` (the MCS
categories) is allowed.
""",
    remediation=steps(
        Step("Remove `seLinuxOptions.user`/`.role` and use an allowed type (or none)",
             "kubectl explain pod.spec.securityContext.seLinuxOptions"),
        _BASELINE_DRY_RUN,
    ),
)

KS727 = define(
    "KS727",
    "Container mounts /proc unmasked",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "/proc Mount Type". A container (init and ephemeral containers included) sets
`securityContext.procMount` to other than Default (i.e. Unmasked). The runtime's masks over
sensitive /proc paths (kcore, keys, timer lists, sysrq-trigger) are then lifted. From Kubernetes
1.35 baseline allows it for a pod in its own user namespace (`hostUsers: false`); restricted still
does not (KS747).
""",
    remediation=steps(
        Step("Remove `procMount` from container <container>",
             "kubectl explain pod.spec.containers.securityContext.procMount"),
        _BASELINE_DRY_RUN,
    ),
)

KS728 = define(
    "KS728",
    "Seccomp profile set to Unconfined",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "Seccomp". The pod's or a container's `securityContext.seccompProfile.type` is other
than RuntimeDefault or Localhost (i.e. Unconfined), at either level: a pod-level Unconfined is a
violation even where containers override it, as Pod Security Admission judges it. Without seccomp every
system call is open to the container, including those behind most kernel container escapes.
(Setting no profile at all is restricted's KS745.)
""",
    remediation=steps(
        Step("Set `seccompProfile: {type: RuntimeDefault}` instead",
             "kubectl explain pod.spec.securityContext.seccompProfile"),
        _BASELINE_DRY_RUN,
    ),
)

KS729 = define(
    "KS729",
    "Pod sets an unsafe sysctl",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "Sysctls". The pod's `securityContext.sysctls` names a sysctl outside the safe set of
the target version (`policy.settings.targetVersion`): kernel.shm_rmid_forced,
net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies, net.ipv4.ping_group_range,
net.ipv4.ip_unprivileged_port_start; from 1.27 net.ipv4.ip_local_reserved_ports; from 1.29
net.ipv4.tcp_keepalive_time, tcp_fin_timeout, tcp_keepalive_intvl, tcp_keepalive_probes; from 1.32
net.ipv4.tcp_rmem and tcp_wmem. Others are not isolated to the pod: they change the node for every
pod, or disable protections. (The kubelet also refuses unsafe sysctls it was not told to allow.)
""",
    remediation=steps(
        Step("Remove the sysctl, or run the workload on nodes configured for it (kubelet "
             "`--allowed-unsafe-sysctls`) and suppress the finding with that reason",
             "kubectl explain pod.spec.securityContext.sysctls"),
        _BASELINE_DRY_RUN,
    ),
)

KS730 = define(
    "KS730",
    "Windows HostProcess container",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline, "HostProcess". The pod's or a container's `securityContext.windowsOptions.hostProcess`
is true. A HostProcess container runs directly on the Windows node, as a process of the host with its
privileges: it is the Windows equivalent of a privileged container.
""",
    remediation=steps(
        Step("Remove `windowsOptions.hostProcess`; a node agent belongs in a privileged namespace of its own",
             "kubectl explain pod.spec.securityContext.windowsOptions.hostProcess"),
        _BASELINE_DRY_RUN,
    ),
)

KS731 = define(
    "KS731",
    "Probe or lifecycle hook targets another host",
    area="security",
    severity=Severity.ERROR,
    explanation="""
PSS baseline from Kubernetes 1.34 (per `policy.settings.targetVersion`), "Host Probes / Lifecycle
Hooks". A container's (init and ephemeral containers included) liveness, readiness or startup probe,
or its postStart/preStop hook, sets `httpGet.host` or `tcpSocket.host`. The kubelet then connects to
that address from the node's network: a way to reach, from any pod spec, what only the node can
reach (cloud metadata endpoints, node-local services).
""",
    remediation=steps(
        Step("Remove `host` from the probe or hook of container <container>; it then targets the pod's own IP",
             "kubectl explain pod.spec.containers.livenessProbe.httpGet.host"),
        _BASELINE_DRY_RUN,
    ),
)

# -- Pod Security Standards: restricted (KS740–KS749) ---------------------------------------------

KS740 = define(
    "KS740",
    "Container allows privilege escalation",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Privilege Escalation". A container (init and ephemeral containers included) does
not set `securityContext.allowPrivilegeEscalation: false`; unset means allowed. The kernel's
no_new_privs flag is then off, so a setuid binary in the image (or one written at run time) gains
privileges the container's user does not have. Not applied to Windows pods (`spec.os.name: windows`).
""",
    remediation=steps(
        Step("Set `allowPrivilegeEscalation: false` in the securityContext of container <container>",
             "kubectl explain pod.spec.containers.securityContext.allowPrivilegeEscalation"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS741 = define(
    "KS741",
    "Container not required to run as non-root",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Running as Non-root". A container (init and ephemeral containers included) is not
required to run as a non-root user: its effective `runAsNonRoot` (its own, else the pod's, as the
kubelet applies it) is not true. The pod setting `runAsNonRoot: false` is reported too, even where
every container overrides it with true, as Pod Security Admission rejects it. Without it, an image
whose user is root (most are) runs as root, and a container escape starts as root. From Kubernetes
1.35 a pod in its own user namespace (`hostUsers: false`) is exempt: its root is not the node's.
""",
    remediation=steps(
        Step("Set `runAsNonRoot: true` in the pod's securityContext (and a non-zero `runAsUser` where the "
             "image's user is root)", "kubectl explain pod.spec.securityContext.runAsNonRoot"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS742 = define(
    "KS742",
    "Container set to run as root (runAsUser 0)",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Running as Non-root user". The pod's or a container's (init and ephemeral
containers included) `securityContext.runAsUser` is 0, at either level: a pod-level 0 is reported even
where containers override it, as Pod Security Admission judges it. The container runs as root
whatever the image says; with `runAsNonRoot: true` as well, it does not start at all. From
Kubernetes 1.35 a pod in its own user namespace (`hostUsers: false`) is exempt.
""",
    remediation=steps(
        Step("Set `runAsUser` to the image's non-root UID (e.g. 10001), or remove it and let the image's user apply",
             "kubectl explain pod.spec.securityContext.runAsUser"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS743 = define(
    "KS743",
    "Container does not drop all capabilities",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Capabilities". A container (init and ephemeral containers included) does not list
`ALL` in `securityContext.capabilities.drop`. It then keeps the runtime's default capabilities
(CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID, KILL, NET_BIND_SERVICE, ...), which a process running as
root uses to read any file of the container, change owners or switch users. Not applied to Windows pods.
""",
    remediation=steps(
        Step("Set `capabilities: {drop: [ALL]}` on container <container>, adding back only NET_BIND_SERVICE if "
             "it binds a port below 1024", "kubectl explain pod.spec.containers.securityContext.capabilities.drop"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS744 = define(
    "KS744",
    "Container adds a capability restricted forbids",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Capabilities". A container (init and ephemeral containers included) adds, in
`securityContext.capabilities.add`, a capability of the runtime's default set other than
NET_BIND_SERVICE (CHOWN, SETUID, KILL, ...): baseline allows those, restricted does not. Capabilities
outside the default set are baseline's KS722. Not applied to Windows pods.
""",
    remediation=steps(
        Step("Remove the capability from container <container> (run as a user that owns what it needs instead)",
             "kubectl explain pod.spec.containers.securityContext.capabilities.add"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS745 = define(
    "KS745",
    "Container without a seccomp profile",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Seccomp". Neither a container (init and ephemeral containers included) nor its pod
sets `securityContext.seccompProfile.type`. Unless the kubelet runs with `--seccomp-default`, the
container then runs Unconfined, every system call open to it. (An explicit Unconfined is baseline's
KS728.) Not applied to Windows pods.
""",
    remediation=steps(
        Step("Set `seccompProfile: {type: RuntimeDefault}` in the pod's securityContext",
             "kubectl explain pod.spec.securityContext.seccompProfile"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS746 = define(
    "KS746",
    "Pod volume of a type restricted forbids",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "Volume Types". A pod volume is of a type other than configMap, csi, downwardAPI,
emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret: an in-tree driver (nfs,
iscsi, rbd, cephfs, glusterfs, awsElasticBlockStore, gitRepo, ...) mounts storage named in the pod
itself, bypassing the PersistentVolume objects and StorageClasses an administrator controls (gitRepo
also runs git on the node). hostPath is baseline's KS723.
""",
    remediation=steps(
        Step("Move the storage behind a PersistentVolume (claimed by a PersistentVolumeClaim) or a CSI driver",
             "kubectl explain pod.spec.volumes.persistentVolumeClaim"),
        _RESTRICTED_DRY_RUN,
    ),
)

KS747 = define(
    "KS747",
    "Container in a user namespace mounts /proc unmasked",
    area="security",
    severity=Severity.WARNING,
    explanation="""
PSS restricted, "/proc Mount Type", from Kubernetes 1.35. A container of a pod in its own user
namespace (`hostUsers: false`) sets `securityContext.procMount` to other than Default. Baseline allows
it there (the user namespace contains it); restricted allows only Default everywhere. Other pods'
unmasked /proc is baseline's KS727.
""",
    remediation=steps(
        Step("Remove `procMount` from container <container>",
             "kubectl explain pod.spec.containers.securityContext.procMount"),
        _RESTRICTED_DRY_RUN,
    ),
)

# -- production hardening outside the standards (KS750–KS759) -------------------------------------

KS750 = define(
    "KS750",
    "Container root filesystem writable",
    area="security",
    severity=Severity.WARNING,
    explanation="""
Not a PSS control. A container (init containers included; not ephemeral debug containers) does not
set `securityContext.readOnlyRootFilesystem: true`. An intruder can then write tools and persist
changes into the container's filesystem, and a bug can fill the node's disk through it. Windows pods
are exempt (the field does not exist there).
""",
    remediation=steps(
        Step("Set `readOnlyRootFilesystem: true` on container <container> and mount an emptyDir where it "
             "writes (/tmp, caches)", "kubectl explain pod.spec.containers.securityContext.readOnlyRootFilesystem"),
    ),
)

KS751 = define(
    "KS751",
    "Pod uses the default ServiceAccount's token",
    area="security",
    severity=Severity.WARNING,
    explanation="""
Not a PSS control. The pod runs as its namespace's `default` ServiceAccount (`serviceAccountName`
unset or `default`) and mounts its token: `automountServiceAccountToken` is not false on the pod,
nor on the `default` ServiceAccount when the set holds it. Every pod of the namespace shares that
identity, so a permission granted to one of them (or to `default` by a chart) is granted to all, and
the token of each is a credential for the API server.
""",
    remediation=steps(
        Step("Give the workload a ServiceAccount of its own (`serviceAccountName`), or set "
             "`automountServiceAccountToken: false` when it never calls the API",
             "kubectl create serviceaccount <name> -n <ns>"),
    ),
)

KS752 = define(
    "KS752",
    "ServiceAccount token mounted without being asked for",
    area="security",
    severity=Severity.INFO,
    explanation="""
Not a PSS control. A pod running as a ServiceAccount of its own mounts the token by default:
neither the pod nor the ServiceAccount (when the set holds it) sets `automountServiceAccountToken`.
Most applications never call the API server, and a mounted token is a credential an intruder can use.
An explicit `automountServiceAccountToken: true` says the pod needs it and is not reported; the
`default` ServiceAccount's case is KS751.
""",
    remediation=steps(
        Step("Set `automountServiceAccountToken: false` on the pod (or its ServiceAccount), or true where it "
             "calls the API", "kubectl explain pod.spec.automountServiceAccountToken"),
    ),
)

KS753 = define(
    "KS753",
    "Secret as a literal environment value",
    area="security",
    severity=Severity.ERROR,
    explanation="""
Not a PSS control. A container (init and ephemeral containers included) sets an environment variable
whose name says it holds a credential (a word PASSWORD, PASSWD, SECRET, TOKEN, CREDENTIAL(S), APIKEY,
or a pair API_KEY, ACCESS_KEY, PRIVATE_KEY, CLIENT_SECRET; names whose last word says where or which
credential, or a setting about it, excepted: _FILE, _PATH, _DIR, _URL, _HOST, _NAME, _ID, _USER, _TTL,
_TIMEOUT, _LENGTH, _ENABLED, ...) from a non-empty literal `value` instead of
`valueFrom.secretKeyRef`. The value then lives in the manifest, its repository and every copy of the
object (readable by anyone who may read the workload, unlike a Secret). kubesteward never shows the
value: it is redacted where objects enter. A value that only refers to another variable (`$(VAR)`)
cannot be told apart once redacted: suppress it with that reason.
""",
    remediation=steps(
        Step("Move the value into a Secret and reference it with `valueFrom.secretKeyRef`",
             "kubectl create secret generic <name>-env -n <ns> --from-literal=<key>=..."),
        Step("Rotate the credential: it has been in the manifest"),
    ),
)
