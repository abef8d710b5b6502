"""Durable state of ``kubesteward watch`` and the audit trail of ``sync``: SQLite by default, PostgreSQL by URL
(see ``store.py``)."""

from kubesteward.state.audit import AuditEntry
from kubesteward.state.store import AlertRecord, GroupRecord, OutboxItem, StateStore

__all__ = ["AlertRecord", "AuditEntry", "GroupRecord", "OutboxItem", "StateStore"]
