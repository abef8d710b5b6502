"""The storage codes (KS4xx): PersistentVolumeClaims, PersistentVolumes, StorageClasses."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

PVC_CLASS_MISSING = define(
    "KS401",
    "PVC names a StorageClass that does not exist",
    area="storage",
    severity=Severity.ERROR,
    rank=15,
    explanation="""
The PersistentVolumeClaim is Pending and its storageClassName names a StorageClass that does not exist,
and no PersistentVolume carries that class either. Nothing can ever provision or bind a volume for it, so
every pod mounting it stays Pending ("unbound immediate PersistentVolumeClaims"). The usual causes are a
typo, a class from another cluster or cloud (gp2, standard, managed-premium) in a copied manifest or Helm
values, or a CSI driver that was never installed. The finding is linked to the missing StorageClass, so
the claim, its pods and their StatefulSet form one incident.
""",
    remediation=steps(
        Step(
            "Point the claim at a class that exists (storageClassName is immutable on a PVC, so recreate it; for a "
            "StatefulSet fix volumeClaimTemplates and delete the Pending PVCs)",
            "kubectl get storageclass",
        ),
        Step(
            "Save the claim, then edit its spec.storageClassName",
            "kubectl get pvc <pvc> -n <namespace> -o yaml > pvc.yaml",
        ),
        Step("Recreate it", "kubectl delete pvc <pvc> -n <namespace> && kubectl apply -f pvc.yaml"),
        Step("Or create the StorageClass <class> (with the provisioner of your CSI driver)"),
    ),
)


PVC_NO_DEFAULT_CLASS = define(
    "KS402",
    "PVC has no StorageClass and there is no default StorageClass",
    area="storage",
    severity=Severity.ERROR,
    rank=15,
    explanation="""
The PersistentVolumeClaim is Pending, names no StorageClass, and the cluster has no default StorageClass,
so nothing provisions a volume for it. Only a pre-created PersistentVolume without a class could satisfy
it, and none that is Available exists. Common on fresh or bare-metal clusters without a storage add-on.
""",
    remediation=steps(
        Step(
            "Mark an existing class as the default (since Kubernetes 1.28 Pending claims without a class then get it "
            "automatically)",
            "kubectl get storageclass",
        ),
        Step(
            "Annotate the one you choose",
            "kubectl annotate storageclass <class> storageclass.kubernetes.io/is-default-class=true",
        ),
        Step(
            "Or install a provisioner (a CSI driver, or e.g. local-path-provisioner for test clusters), or set "
            "storageClassName on the claim explicitly (recreate it: the field is immutable)"
        ),
    ),
)


MULTIPLE_DEFAULT_CLASSES = define(
    "KS403",
    "More than one default StorageClass",
    area="storage",
    severity=Severity.WARNING,
    rank=30,
    explanation="""
Several StorageClasses carry the is-default-class annotation. A claim without storageClassName then gets
the most recently created default, so which storage backend (and reclaim policy, performance, cost) a new
volume gets depends on creation order rather than on an explicit decision. Usually a cloud default and an
add-on (local-path, longhorn, a CSI driver) both claiming the role.
""",
    remediation=steps(
        Step("Keep exactly one default", "kubectl get storageclass"),
        Step(
            "Unmark the others",
            "kubectl annotate storageclass <class> storageclass.kubernetes.io/is-default-class=false --overwrite",
        ),
    ),
)


PVC_PENDING = define(
    "KS404",
    "PVC stuck Pending",
    area="storage",
    severity=Severity.ERROR,
    rank=20,
    explanation="""
The PersistentVolumeClaim has been Pending for longer than the startup grace (pod_pending_seconds), although
its StorageClass exists (or it asks for a pre-created volume). Typical causes: the provisioner of the class
is not running or keeps failing (quota, permissions, an unsupported parameter or access mode: see the
events), no Available PersistentVolume matches a statically provisioned claim (size, access modes, class,
selector), or the volume it is pre-bound to (spec.volumeName) does not exist or is taken. It is an error
when pods mount the claim (they cannot start) and a warning otherwise. Claims of a WaitForFirstConsumer
class that no pod uses yet are not reported: they bind when the first pod is scheduled.
""",
    remediation=steps(
        Step(
            "Read the claim's events (ProvisioningFailed, ExternalProvisioning)",
            "kubectl describe pvc <pvc> -n <namespace>",
        ),
        Step(
            "See its class's provisioner, parameters and volumeBindingMode",
            "kubectl get storageclass <class> -o yaml",
        ),
        Step("For static volumes, compare their class, capacity and access modes", "kubectl get pv"),
        Step(
            "Make sure the class's provisioner (its CSI controller pods) is running and fix what its events report, "
            "or create a matching PersistentVolume"
        ),
    ),
)


PVC_LOST = define(
    "KS405",
    "PVC lost its PersistentVolume",
    area="storage",
    severity=Severity.ERROR,
    rank=20,
    explanation="""
The PersistentVolumeClaim is in phase Lost: the PersistentVolume it was bound to no longer exists (it was
deleted, or force-removed past its protection finalizer). The data of that volume may be gone, and pods
mounting the claim cannot start.
""",
    remediation=steps(
        Step("See the volume it was bound to", "kubectl get pvc <pvc> -n <namespace> -o jsonpath='{.spec.volumeName}'"),
        Step("Check whether that volume exists", "kubectl get pv <volume>"),
        Step(
            "If the backing storage still exists, recreate a PersistentVolume named <volume> pointing at it (with a "
            "claimRef to this claim); otherwise restore from backup into a new claim and delete this one"
        ),
    ),
)


PV_FAILED = define(
    "KS406",
    "PersistentVolume Failed",
    area="storage",
    severity=Severity.ERROR,
    rank=20,
    explanation="""
The PersistentVolume is in phase Failed: the PV controller could not reclaim it after its claim was
deleted (typically the Delete reclaim policy with a volume plugin or CSI driver that cannot delete it).
The volume is unusable, and the backing storage may still exist and cost money.
""",
    remediation=steps(
        Step("Read why reclaiming failed (status.message and events)", "kubectl describe pv <volume>"),
        Step(
            "Fix the cause (driver, credentials), then delete the volume in the storage backend if "
            "needed, and the object",
            "kubectl delete pv <volume>",
        ),
    ),
)


PV_RELEASED = define(
    "KS407",
    "PersistentVolume Released and not reusable",
    area="storage",
    severity=Severity.WARNING,
    rank=20,
    explanation="""
The PersistentVolume's claim was deleted and the volume is now Released. With the Retain reclaim policy this
is by design: the data is kept, but the volume still references its old claim, so no new claim can bind to it
until an administrator cleans it up; the storage keeps being allocated (and billed) meanwhile. With the
Delete or Recycle policy a Released volume is reported only when reclaiming is failing (warning events).
""",
    remediation=steps(
        Step("Decide what to do with the data", "kubectl get pv <volume> -o yaml"),
        Step(
            "To reuse the volume for a new claim, remove the stale claim reference",
            """kubectl patch pv <volume> --type json -p '[{"op":"remove","path":"/spec/claimRef"}]'""",
        ),
        Step(
            "To discard it, delete it, then delete the backing storage (Retain does not)",
            "kubectl delete pv <volume>",
        ),
    ),
)
