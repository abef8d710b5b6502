"""``sync``: put the cluster in the state the manifests describe, through server-side apply, and prune what
left them, only among the objects this application applied.

>>> async with ClientFactory() as clients:                                          # doctest: +SKIP
...     result = await sync(clients.client("prod"), DesiredSource(paths=(Path("deploy/"),)), app="shop", prune=True)
...     for action in result.actions:
...         print(action.verb, action.ref, action.detail)

- **Ownership** is kubectl's ApplySet (:mod:`~kubesteward.drift.ownership`): the parent ConfigMap is written
  first, recording the kinds and namespaces of the old set *and* the new one (an interrupted sync still prunes
  later), every object is applied with the set's ``part-of`` label, and the parent is written again at the end
  with what the set now holds.
- **Order**: Namespaces, CRDs (then each waited for until Established, so its custom resources resolve),
  other cluster-scoped kinds, ServiceAccounts, Roles, bindings, ConfigMaps and Secrets, claims, workloads,
  Services, Ingresses, HPAs/PDBs/NetworkPolicies, then anything else; objects of one step are applied
  concurrently. Prune goes in the reverse order.
- **Apply**: server-side, field manager ``kubesteward``, never forced unless ``force_conflicts``: a field
  another manager owns is a ``conflict`` action naming the managers, and the run goes on with the rest.
  An action is ``create`` (the object did not exist), ``update`` (it changed: the fields named in the
  detail, never a value) or ``unchanged``.
- **Prune** deletes (uid precondition, background propagation) the set's members that left the manifests,
  and refuses (:class:`PruneRefused`, exit 2) to delete a whole set because the manifests hold no object,
  unless ``allow_empty``.
- **Dry run**: every write is a server-side dry run (``dryRun=All``): the result is the plan.
- **Wait**: then the applied workloads are waited for (:func:`~kubesteward.model.wait.wait_healthy`).
- **Audit**: each action is an entry of the audit trail, with the source and the Git commit it came from.

Secrets: an action's detail names fields, never values; API errors go through
:func:`~kubesteward.drift.desired.error_line`, which cuts a Secret's values out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import msgspec

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.identity import whoami
from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.writes import FIELD_MANAGER, Preconditions
from kubesteward.drift.compare import compare
from kubesteward.drift.desired import (
    CONCURRENCY,
    HPA_KIND,
    DesiredObject,
    NamespaceProbe,
    error_line,
    load_live,
    locate,
    namespace_exists,
)
from kubesteward.drift.members import Members, read_members
from kubesteward.drift.ownership import (
    PART_OF_LABEL,
    ApplySet,
    ApplySetRecord,
    GroupKind,
    check_app,
    foreign_tooling,
    record_of,
)
from kubesteward.drift.source import DesiredSource
from kubesteward.errors import (
    Conflict,
    Forbidden,
    Invalid,
    KubestewardError,
    NotFound,
    UsageError,
)
from kubesteward.model import objects as o
from kubesteward.model.full import FullKey, FullObject, FullObjects
from kubesteward.model.render import read_inputs
from kubesteward.model.semantics.autoscaling import scales
from kubesteward.model.wait import WaitOutcome, wait_healthy, waits_for
from kubesteward.redaction import redact_manifest
from kubesteward.state.audit import AuditEntry

Verb = Literal["create", "update", "unchanged", "prune", "conflict", "error"]
FAILED_VERBS: frozenset[str] = frozenset({"conflict", "error"})
# Deletions one sync may make unasked: a manifest refactor that renames everything (a new kustomize prefix, a
# chart's release name) would otherwise delete the whole running application in one go.
DEFAULT_MAX_PRUNE = 20
CRD_ESTABLISHED_TIMEOUT = 60.0  # seconds: a CRD the API server has not served by then is an error of its CRs


def _builtin(api_version: str, kind: str) -> ResourceType:
    rt = resources.builtin(api_version, kind)
    assert rt is not None, kind
    return rt


CRD = _builtin("apiextensions.k8s.io/v1", "CustomResourceDefinition")
_CONFLICT_MANAGER = re.compile(r'conflicts? with "([^"]+)"')
_SHOWN_PATHS = 5  # an update's detail names this many changed fields, then counts the rest

# The apply order, by (group, kind); a kind not named here goes in its scope's default step.
_NAMESPACES, _CRDS, _CLUSTER, _ACCOUNTS, _ROLES, _BINDINGS, _CONFIG, _CLAIMS, _WORKLOADS, _SERVICES, _INGRESSES, \
    _POLICIES, _OTHER = range(13)
_STEP: dict[tuple[str, str], int] = {
    ("", "Namespace"): _NAMESPACES,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _CRDS,
    # Namespaced objects that shape what is admitted after them (quotas, default limits).
    ("", "ResourceQuota"): _CLUSTER, ("", "LimitRange"): _CLUSTER,
    ("", "ServiceAccount"): _ACCOUNTS,
    ("rbac.authorization.k8s.io", "Role"): _ROLES, ("rbac.authorization.k8s.io", "ClusterRole"): _ROLES,
    ("rbac.authorization.k8s.io", "RoleBinding"): _BINDINGS,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _BINDINGS,
    ("", "ConfigMap"): _CONFIG, ("", "Secret"): _CONFIG,
    ("", "PersistentVolumeClaim"): _CLAIMS,
    **{(group, kind): _WORKLOADS for group, kind in (
        ("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"),
        ("batch", "Job"), ("batch", "CronJob"), ("", "Pod"), ("", "ReplicationController"))},
    ("", "Service"): _SERVICES,
    ("networking.k8s.io", "Ingress"): _INGRESSES,
    ("autoscaling", "HorizontalPodAutoscaler"): _POLICIES, ("policy", "PodDisruptionBudget"): _POLICIES,
    ("networking.k8s.io", "NetworkPolicy"): _POLICIES,
    # Webhooks and API services last: applied before what serves them, they would refuse what follows.
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _OTHER,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _OTHER,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): _OTHER,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): _OTHER,
    ("apiregistration.k8s.io", "APIService"): _OTHER,
}
# Fields that change without the object changing (bookkeeping), left out when judging an update.
_BOOKKEEPING = ("managedFields", "resourceVersion", "generation")


class AuditSink(Protocol):
    """Where the actions are recorded: :class:`~kubesteward.state.store.StateStore` is one."""

    def record_audit(self, entries: Sequence[AuditEntry]) -> None: ...


class PruneRefused(UsageError):
    """The manifests hold no object but the set has members: pruning would delete the whole application."""


@dataclass(frozen=True)
class SyncAction:
    kind: str
    group: str
    namespace: str  # "" when cluster-scoped
    name: str
    verb: Verb
    detail: str = ""  # why, or what changed: field paths, never a value
    managers: tuple[str, ...] = ()  # a conflict's other field managers

    @property
    def ref(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"

    @property
    def failed(self) -> bool:
        return self.verb in FAILED_VERBS

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "group": self.group, "namespace": self.namespace,
                               "name": self.name, "action": self.verb, "detail": self.detail}
        if self.managers:
            out["managers"] = list(self.managers)
        return out


@dataclass(frozen=True)
class SyncResult:
    app: str
    context: str
    namespace: str  # the parent's
    applyset: str  # the set's id (its members' part-of label)
    source: str  # what the manifests are, e.g. ``deploy/`` or ``git:/repo@main:deploy (abc1234)``
    revision: str | None  # the Git commit, None for files
    dry_run: bool
    actions: tuple[SyncAction, ...]
    waits: tuple[WaitOutcome, ...] = ()

    @property
    def conflicts(self) -> tuple[SyncAction, ...]:
        return tuple(action for action in self.actions if action.verb == "conflict")

    @property
    def errors(self) -> tuple[SyncAction, ...]:
        return tuple(action for action in self.actions if action.verb == "error")

    @property
    def unhealthy(self) -> tuple[WaitOutcome, ...]:
        return tuple(outcome for outcome in self.waits if not outcome.healthy)

    @property
    def ok(self) -> bool:
        """Everything applied (and pruned) as asked and every waited workload healthy."""
        return not self.conflicts and not self.errors and not self.unhealthy

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("create", "update", "unchanged", "prune", "conflict", "error"), 0)
        for action in self.actions:
            counts[action.verb] += 1
        return counts

    def document(self) -> dict[str, Any]:
        return {
            "app": self.app, "context": self.context, "namespace": self.namespace, "applySet": self.applyset,
            "source": self.source, "revision": self.revision, "dryRun": self.dry_run, "ok": self.ok,
            "counts": self.counts(), "actions": [action.document() for action in self.actions],
            "waits": [outcome.document() for outcome in self.waits],
        }


@dataclass(frozen=True)
class _Member:
    key: FullKey
    rt: ResourceType
    uid: str


class _Meta(msgspec.Struct, gc=False):
    uid: str = ""


class _Listed(msgspec.Struct, gc=False):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


async def sync(
    client: KubeClient,
    source: DesiredSource,
    *,
    app: str,
    namespace: str | None = None,
    prune: bool = False,
    allow_empty: bool = False,
    dry_run: bool = False,
    force_conflicts: bool = False,
    wait: bool = True,
    wait_timeout: float = 300.0,
    audit: AuditSink | None = None,
    adopt: bool | None = None,
    max_prune: int | None = DEFAULT_MAX_PRUNE,
) -> SyncResult:
    """Apply ``source`` to the cluster as application ``app`` (its ApplySet's name); ``namespace``: the
    parent's and that of objects naming none (default: the context's). ``adopt``: move objects of another
    app's set into this one (default: as ``force_conflicts``; self-heal forces fields, never adopts unasked).
    ``max_prune``: a prune of more members is refused before any write (None: no limit)."""
    check_app(app)
    async with source.reading() as opened:
        reader = await asyncio.to_thread(read_inputs, opened.paths, source.render, allow_empty=True)
    home = namespace or client.config.namespace or "default"
    applyset = ApplySet(app, home)
    located = _last_of_each([await locate(client, doc, home) for doc in reader.documents])
    wanted = {item.key for item in located}
    new_record = record_of(((GroupKind(item.key.group, item.key.kind), item.namespace) for item in located), home)

    owned = await read_members(client, applyset, new_record.kinds)
    _check_parent(client, applyset, owned, prune)
    old_record = owned.record
    members = [await _member(client, obj) for obj in owned.objects] if prune else []
    if prune and not located and members and not allow_empty:
        raise PruneRefused(
            f"refusing to prune: the manifests hold no object and app {app} owns {len(members)} "
            f"(--allow-empty deletes them all)", context=client.context,
        )
    doomed = [m for m in members if m.key not in wanted]
    if max_prune is not None and len(doomed) > max_prune and not dry_run:  # a plan shows them all, to be read
        raise PruneRefused(
            f"refusing to prune {len(doomed)} object{'s' if len(doomed) != 1 else ''} of app {app}, more than "
            f"--max-prune {max_prune} allows: "
            f"read the plan (--dry-run --prune), then --max-prune {len(doomed)} deletes them", context=client.context,
        )
    run = _Run(client, applyset, dry_run, force_conflicts, located, force_conflicts if adopt is None else adopt)
    result = SyncResult(app=app, context=client.context, namespace=home, applyset=applyset.id, source=opened.label,
                        revision=opened.revision, dry_run=dry_run, actions=())
    pruned: list[SyncAction] = []
    try:
        actions: list[SyncAction] = []
        if not await _write_parent(client, applyset, old_record.union(new_record), dry_run):
            if applyset.namespace not in run.namespaces:
                raise NotFound(f"namespace {home} does not exist: app {app}'s record (ConfigMap "
                               f"{applyset.parent_name}) goes there; create it, or choose another with -n",
                               context=client.context)
            actions += await run.apply_namespaces()  # the manifests create the record's namespace: it comes first
            await _write_parent(client, applyset, old_record.union(new_record), dry_run)
        actions += await run.apply_all()
        if prune:
            await _prune(client, applyset, doomed, dry_run, pruned)
        left = record_of(((GroupKind(a.group, a.kind), a.namespace) for a in pruned if a.verb != "prune"), home)
        final = new_record.union(left) if prune else old_record.union(new_record)
        await _write_parent(client, applyset, final, dry_run)
    except KubestewardError as exc:
        if audit is not None:  # what was written before the run was cut short is recorded all the same
            await _record_cut_short(client, audit, replace(result, actions=(*run.done, *pruned)), applyset, exc)
        raise

    waits: list[WaitOutcome] = []
    if wait and not dry_run:
        waits = await wait_healthy(client, [a for a in actions if not a.failed and waits_for(a)], wait_timeout)
    result = replace(result, actions=tuple([*actions, *pruned]), waits=tuple(waits))
    if audit is not None:
        audit.record_audit(await audit_entries(client, result))
    return result


async def _record_cut_short(
    client: KubeClient, audit: AuditSink, done: SyncResult, applyset: ApplySet, exc: KubestewardError,
) -> None:
    """The actions taken before ``exc``, and one failed entry saying the run stopped there and why."""
    entries = await audit_entries(client, done)
    stop = AuditEntry(at=dt.datetime.now(dt.UTC), actor=entries[0].actor if entries else await whoami(client),
                      context=client.context, app=done.app, action="error", kind="ConfigMap", group="",
                      namespace=applyset.namespace, name=applyset.parent_name, source=done.source,
                      revision=done.revision or "", dry_run=done.dry_run, outcome="failed",
                      detail=f"sync cut short after {len(done.actions)} actions: {error_line(exc)}")
    audit.record_audit([*entries, stop])


def _last_of_each(located: Iterable[DesiredObject]) -> list[DesiredObject]:
    """One object per key, the last given (as applying them in turn would leave it)."""
    return list({item.key: item for item in located}.values())


def step_of(group: str, kind: str, namespaced: bool) -> int:
    """The object's place in the apply order (lower first)."""
    default = _OTHER if namespaced else _CLUSTER
    return _STEP.get((group, kind), default)


def _step(item: DesiredObject) -> int:
    return step_of(item.key.group, item.key.kind, item.rt.namespaced if item.rt is not None else True)


class _Run:
    """One sync's applies, step by step."""

    def __init__(
        self, client: KubeClient, applyset: ApplySet, dry_run: bool, force: bool, located: Sequence[DesiredObject],
        adopt: bool,
    ) -> None:
        self.client, self.applyset, self.dry_run, self.force, self.adopt = client, applyset, dry_run, force, adopt
        self.located = list(located)
        self.gate = asyncio.Semaphore(CONCURRENCY)
        # What the manifests create, for a dry run's objects that need it (it does not exist yet).
        self.namespaces = {item.key.name for item in located if item.key[:2] == ("", "Namespace")}
        self.custom_kinds = {_crd_kind(item.manifest) for item in located if item.key[:2] == (CRD.group, CRD.kind)}
        self.applied: set[FullKey] = set()
        self.probe = NamespaceProbe(client)
        self.done: list[SyncAction] = []  # every action as it completes: what a run cut short had done
        self.manifest_hpas = [msgspec.convert(item.manifest, o.HorizontalPodAutoscaler, strict=False)
                              for item in located if item.key[:2] == ("autoscaling", HPA_KIND)]
        self.listing: asyncio.Future[FullObjects] | None = None

    async def apply_namespaces(self) -> list[SyncAction]:
        """The Namespaces alone (before the parent, when the parent's namespace is one of them)."""
        return await self._apply_step(_NAMESPACES)

    async def apply_all(self) -> list[SyncAction]:
        """Every object not applied yet, step by step; custom resources once their CRDs are served."""
        actions = await self._apply_step(_NAMESPACES)
        crds = await self._apply_step(_CRDS)
        served = [action.name for action in crds if not action.failed]
        if served and not self.dry_run:
            await asyncio.gather(*(self._established(name) for name in served))
        self.located = [await self._relocate(item) for item in self.located]
        actions += crds
        for step in sorted({_step(item) for item in self.located} - {_NAMESPACES, _CRDS}):
            actions += await self._apply_step(step)
        return actions

    async def _apply_step(self, step: int) -> list[SyncAction]:
        items = [item for item in self.located if _step(item) == step and item.key not in self.applied]
        self.applied.update(item.key for item in items)

        async def gated(item: DesiredObject) -> SyncAction:
            async with self.gate:
                done = await self._apply(item)
            self.done.append(done)
            return done

        return list(await asyncio.gather(*(gated(item) for item in items)))

    async def _relocate(self, item: DesiredObject) -> DesiredObject:
        """An object whose kind was unknown before the CRDs were applied, placed again."""
        if item.rt is not None or not item.key.kind:
            return item
        return await locate(self.client, item.manifest, self.applyset.namespace)

    async def _established(self, name: str) -> None:
        """Wait (bounded) until the CRD is served: its custom resources resolve only then."""
        deadline = time.monotonic() + CRD_ESTABLISHED_TIMEOUT
        while time.monotonic() < deadline:
            try:
                crd = await self.client.get(CRD, name)
            except NotFound:
                return
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return
            await asyncio.sleep(0.2)

    async def _apply(self, item: DesiredObject) -> SyncAction:
        key, client = item.key, self.client

        def action(verb: Verb, detail: str = "", managers: tuple[str, ...] = ()) -> SyncAction:
            return SyncAction(key.kind, key.group, key.namespace, key.name, verb, detail, managers)

        if item.rt is None:
            if self.dry_run and (key.group, key.kind) in self.custom_kinds:
                return action("create", "its CustomResourceDefinition is created by this sync")
            return action("error", item.error)
        ns = item.namespace or None
        try:
            before = await self._before(item)
        except Forbidden as exc:
            return action("error", error_line(exc, item.manifest))
        owner = _set_of(before)
        if owner and owner != self.applyset.id and not self.adopt:
            # Taken silently, two apps would take it from each other at every sync, and one's prune delete
            # what the other still declares.
            return action("conflict", f"a member of another app's set ({PART_OF_LABEL}={owner}): "
                          "--force-conflicts moves it to this one")
        manifest = await self._replicas_kept(item, before)
        try:
            after = await client.apply(self.applyset.member(manifest), namespace=ns, force=self.force,
                                       dry_run=self.dry_run, field_manager=FIELD_MANAGER)
        except Conflict as exc:
            line = error_line(exc, item.manifest)
            return action("conflict", line, tuple(dict.fromkeys(_CONFLICT_MANAGER.findall(line))))
        except NotFound as exc:
            if ns and not await self.probe.exists(ns):
                if self.dry_run and ns in self.namespaces:
                    return action("create", f"in namespace {ns}, which this sync creates")
                return action("error", f"namespace {ns} does not exist (the manifests do not create it)")
            return action("error", error_line(exc, item.manifest))
        except (Invalid, Forbidden) as exc:
            return action("error", error_line(exc, item.manifest))
        if before is None:
            return action("create")
        changed = changed_paths(before, redact_manifest(after))
        if not changed:
            return action("unchanged")
        shown = ", ".join(changed[:_SHOWN_PATHS]) + (f" and {len(changed) - _SHOWN_PATHS} more"
                                                    if len(changed) > _SHOWN_PATHS else "")
        return action("update", f"changed {shown}")


    async def _replicas_kept(self, item: DesiredObject, before: Mapping[str, Any] | None) -> dict[str, Any]:
        """The manifest, but for a live workload an HPA scales: its live ``spec.replicas``. The autoscaler owns
        them once it has scaled (applying the manifest's count would be a conflict, or, forced, a fight);
        the same value is shared ownership, never a conflict. A new object starts at the manifest's."""
        spec, live = item.manifest.get("spec"), ((before or {}).get("spec") or {}).get("replicas")
        if live is None or not isinstance(spec, Mapping) or "replicas" not in spec:
            return item.manifest
        hpas = [*self.manifest_hpas, *await self._live_hpas(item.namespace)]
        if not any(scales(hpa, item.manifest) for hpa in hpas):
            return item.manifest
        return {**item.manifest, "spec": {**spec, "replicas": live}}

    async def _live_hpas(self, namespace: str) -> list[o.HorizontalPodAutoscaler]:
        """The namespace's HPAs as listed (none when they may not be read: the manifests' count is applied)."""
        live = await self._live()
        return [obj.decode(o.HorizontalPodAutoscaler)
                for obj in live.of_kind(HPA_KIND, group="autoscaling", namespace=namespace)]

    async def _live(self) -> FullObjects:
        """The live objects of the manifests' kinds and namespaces: one LIST each, at the first need."""
        if self.listing is None:
            self.listing = asyncio.ensure_future(load_live(self.client, self.located))
        return await self.listing

    async def _before(self, item: DesiredObject) -> dict[str, Any] | None:
        """The live object (redacted, as every live object is held), from the listing; a GET only for a kind
        the listing could not read or did not know (a custom resource whose CRD this sync just created)."""
        assert item.rt is not None
        live = await self._live()
        key = item.key
        listed = (key.group, key.kind) in live.loaded
        unread = any(skipped.unread and skipped.kind == key.kind for skipped in live.skipped)
        if listed and not unread:
            found = live.get(key.kind, key.namespace, key.name, group=key.group)
            return found.manifest() if found is not None else None
        try:
            return redact_manifest(await self.client.get(item.rt, key.name, item.namespace or None))
        except NotFound:
            return None


def _set_of(obj: Mapping[str, Any] | None) -> str:
    """The id of the ApplySet ``obj`` is a member of ("" for none)."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(PART_OF_LABEL) or "")


def _crd_kind(manifest: Mapping[str, Any]) -> tuple[str, str]:
    spec = manifest.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    names = spec.get("names")
    return str(spec.get("group") or ""), str((names if isinstance(names, Mapping) else {}).get("kind") or "")


def changed_paths(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The fields that differ, as JSON pointers (values are never kept: a Secret's are compared as digests)."""
    return [change.path for change in compare(_content(before), _content(after))]


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without what changes when nothing does (bookkeeping, status)."""
    out = {key: value for key, value in obj.items() if key != "status"}
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        out["metadata"] = {key: value for key, value in metadata.items() if key not in _BOOKKEEPING}
    return out


# --------------------------------------------------------------------------- the parent and its members


def _check_parent(client: KubeClient, applyset: ApplySet, owned: Members, prune: bool) -> None:
    """Refuse a set another tool manages, and a prune that could not see every member (it would miss some)."""
    tooling = foreign_tooling(owned.parent)
    if tooling:
        raise UsageError(
            f"ConfigMap {applyset.namespace}/{applyset.parent_name} is the parent of a set {tooling} manages: "
            "choose another --app", context=client.context,
        )
    if prune and not owned.complete:
        unread = "; ".join(f"{skipped.kind}: {skipped.reason}" for skipped in owned.objects.skipped if skipped.unread)
        raise Forbidden(f"cannot prune app {applyset.app}: its members are not all readable ({unread})",
                        context=client.context)


async def _write_parent(client: KubeClient, applyset: ApplySet, record: ApplySetRecord, dry_run: bool) -> bool:
    """The parent holding ``record`` (forced: it is kubesteward's own bookkeeping, no other manager's);
    False when its namespace does not exist (yet: a dry run's plan goes on as if it did)."""
    try:
        await client.apply(applyset.parent(record), force=True, dry_run=dry_run, field_manager=FIELD_MANAGER)
    except NotFound:
        if await namespace_exists(client, applyset.namespace):
            raise
        return dry_run
    return True


async def _member(client: KubeClient, obj: FullObject) -> _Member:
    rt = await client.resolve(obj.api_version, obj.kind)
    return _Member(obj.key, rt, obj.decode(_Listed).metadata.uid)


async def _prune(
    client: KubeClient, applyset: ApplySet, members: Sequence[_Member], dry_run: bool, actions: list[SyncAction],
) -> None:
    """Delete ``members``, the last step first, each step's actions appended to ``actions`` (a run cut
    short keeps each step it finished); a member that cannot be deleted is an ``error`` action."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(member: _Member) -> SyncAction:
        key = member.key

        def action(verb: Verb, detail: str = "") -> SyncAction:
            return SyncAction(key.kind, key.group, key.namespace, key.name, verb, detail)

        if (key.group, key.kind, key.name) == ("", "Namespace", applyset.namespace):
            # Deleting it would delete the record, and whatever else lives there: kept, never a failure.
            return action("unchanged", f"kept: it holds this app's record (ConfigMap {applyset.parent_name})")
        async with gate:
            try:
                await client.delete(member.rt, key.name, namespace=key.namespace or None, dry_run=dry_run,
                                    propagation_policy="Background", preconditions=Preconditions(uid=member.uid))
            except NotFound:
                return action("prune", "already gone")
            except Conflict:
                return action("error", "replaced since it was listed (another uid): not pruned")
            except (Forbidden, Invalid) as exc:
                return action("error", error_line(exc))
        return action("prune", "left the manifests")

    def step(member: _Member) -> int:
        return step_of(member.key.group, member.key.kind, member.rt.namespaced)

    for last in sorted({step(member) for member in members}, reverse=True):
        batch = sorted((m for m in members if step(m) == last), key=lambda m: str(m.key))
        actions += await asyncio.gather(*(one(member) for member in batch))


# --------------------------------------------------------------------------- the audit trail


async def audit_entries(client: KubeClient, result: SyncResult, action: str | None = None) -> list[AuditEntry]:
    """One entry per action of ``result`` (and per workload that did not become healthy); ``action``
    replaces each entry's action (self-heal records its reverts as ``self-heal``)."""
    actor = await whoami(client)
    now = dt.datetime.now(dt.UTC)
    base = AuditEntry(at=now, actor=actor, context=client.context, app=result.app, action="", kind="", group="",
                      namespace="", name="", source=result.source, revision=result.revision or "",
                      dry_run=result.dry_run, outcome="ok")
    entries = [
        replace(base, action=action or item.verb, kind=item.kind, group=item.group, namespace=item.namespace,
                name=item.name, outcome="failed" if item.failed else "ok",
                detail=(item.detail if action is None else f"{item.verb}: {item.detail}".rstrip(": ")))
        for item in result.actions
    ]
    entries += [
        replace(base, action=action or "wait", kind=outcome.kind, group=outcome.group, namespace=outcome.namespace,
                name=outcome.name, outcome="failed", detail=outcome.message)
        for outcome in result.unhealthy
    ]
    return entries
