"""One entry of the audit trail: what a write to a cluster did, for whom, from which source and revision.

Plain values only (the store knows no feature): ``sync`` and self-heal make these entries, the store keeps
them in ``ks_audit`` and ``kubesteward history`` reads them back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime  # timezone-aware; stored as UTC
    actor: str  # who acted: the kubeconfig user, else the context
    context: str  # the kubeconfig context written to
    app: str  # the ApplySet's name (``--app``)
    action: str  # create | update | unchanged | prune | conflict | error | self-heal | …
    kind: str
    group: str  # "" for the core group
    namespace: str  # "" for a cluster-scoped object
    name: str
    source: str  # where the desired state came from, e.g. ``git:/repo@main:deploy (abc1234)`` or a path
    revision: str  # the Git commit the desired state came from, "" when it came from files
    dry_run: bool
    outcome: str  # ok | failed
    detail: str = ""  # one line; scrubbed by the store before it is written, never a Secret value

    @property
    def object(self) -> str:
        """``Kind.group/namespace/name`` as kubectl names it (no group for core, no namespace when cluster-scoped)."""
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{kind}/{where}{self.name}"

    def document(self) -> dict[str, Any]:
        """The entry as JSON-ready data (``history -o json|yaml``), camelCase as the other outputs."""
        return {
            "at": self.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "context": self.context,
            "app": self.app,
            "action": self.action,
            "kind": self.kind,
            "group": self.group,
            "namespace": self.namespace,
            "name": self.name,
            "source": self.source,
            "revision": self.revision,
            "dryRun": self.dry_run,
            "outcome": self.outcome,
            "detail": self.detail,
        }
