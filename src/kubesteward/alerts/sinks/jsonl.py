"""The JSONL sink: one canonical notification JSON per line, durably appended.

Delivery is at-least-once: the process can die after the line reached the
disk but before the outbox recorded it as delivered, and the notification is
then sent again. The file is its own receiver, so it drops that duplicate
itself by looking for the idempotency key among its last lines.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path

from kubesteward.alerts.ratelimit import RateLimit
from kubesteward.alerts.sinks.base import DEFAULT_TIMEOUT, DeliveryError, SinkSpec, register_sink
from kubesteward.errors import OutputError
from kubesteward.notifications.types import Notification
from kubesteward.private_files import FILE_MODE, private_directory
from kubesteward.redaction import scrub

# How far back to look for a duplicate. A re-send follows the write within one
# restart, so the last mebibyte (hundreds of notifications) is plenty.
TAIL_BYTES = 1 << 20


def _recent_keys(path: Path, tail_bytes: int) -> tuple[set[str], bool]:
    """Idempotency keys in the file's last ``tail_bytes``, and whether the file ends mid-line."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - tail_bytes)
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return set(), False
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first line of the window is probably cut
    keys: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        try:
            key = json.loads(line).get("idempotencyKey")
        except (ValueError, AttributeError):
            continue  # a torn line from a crash mid-write, or not ours
        if isinstance(key, str):
            keys.add(key)
    return keys, bool(data) and not data.endswith(b"\n")


class JsonlSink:
    def __init__(
        self,
        name: str,
        path: Path,
        *,
        rate_limit: RateLimit | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        tail_bytes: int = TAIL_BYTES,
    ) -> None:
        self.name = name
        self.path = path
        self.rate_limit = rate_limit
        self.timeout = timeout
        self._tail_bytes = tail_bytes

    def __repr__(self) -> str:
        return f"JsonlSink(name={self.name!r}, path={str(self.path)!r})"

    def _append(self, notification: Notification) -> bool:
        created = not self.path.exists()
        if created:
            try:
                private_directory(self.path.parent)
            except OutputError as exc:
                raise OSError(str(exc)) from None
        keys, torn = _recent_keys(self.path, self._tail_bytes)
        if notification.idempotency_key in keys:
            return False
        line = scrub(notification.body().decode()).encode() + b"\n"
        if torn:
            # Finish the torn line so this record starts on a line of its own.
            line = b"\n" + line
        # Owner-only, whatever the umask: the log describes a cluster's weak spots.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            if created:
                os.fchmod(fd, FILE_MODE)
            view = memoryview(line)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            # A new file's directory entry must be durable too, or the line can vanish with it.
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return True

    async def send(self, notification: Notification) -> None:
        try:
            await asyncio.to_thread(self._append, notification)
        except OSError as exc:
            # A full or read-only disk may recover; keep the notification queued.
            raise DeliveryError(f"append to {self.path}: {exc.strerror or exc}") from exc

    async def aclose(self) -> None:
        return None


@register_sink("jsonl")
def build_jsonl(spec: SinkSpec, env: Mapping[str, str]) -> JsonlSink:
    spec.check_options()
    path = Path(spec.require_target("file path")).expanduser()
    if path.is_dir():
        raise spec.error(f"{path} is a directory, not a file")
    return JsonlSink(spec.instance_name, path, rate_limit=spec.rate_limit, timeout=spec.timeout)
