"""Durable state of ``kubesteward watch``: SQLite by default, PostgreSQL by URL (see ``store.py``)."""

from kubesteward.state.store import AlertRecord, GroupRecord, OutboxItem, StateStore

__all__ = ["AlertRecord", "GroupRecord", "OutboxItem", "StateStore"]
