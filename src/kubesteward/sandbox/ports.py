"""Port allocation for sandboxes, safe against concurrent ``up``s.

kwokctl picks a free port by counting down from 32767 and probing with a
bind that it closes at once; the component binds it seconds later. Two
kwokctl processes started together therefore probe the same free ports and
hand both clusters the same ones (seen: one API server failing after three
minutes). So we choose every port ourselves and give kwokctl explicit
numbers: under one lock file shared by all sandboxes of a state root, a port
is taken only if no sandbox has it recorded (``ports.json`` in its state
directory, kept until ``down`` deletes that directory) and it binds now.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterable
from pathlib import Path

from kubesteward.sandbox.components import Layout
from kubesteward.sandbox.paths import file_lock

# kwokctl's KwokctlConfiguration option for each port the binary runtime binds.
PORT_OPTIONS = (
    "etcdPort",
    "etcdPeerPort",
    "kubeApiserverPort",
    "kubeControllerManagerPort",
    "kubeSchedulerPort",
    "kwokControllerPort",
)
METRICS_SERVER_PORT = "metricsServerPort"
PORTS_FILE = "ports.json"
LOCK_FILE = ".ports.lock"
# Below the kernel's ephemeral range, where outgoing connections take their
# local ports and could grab one between our probe and the component's bind.
_LOW, _HIGH = 20000, 32767


class PortsExhausted(Exception):
    """No free port left in the range."""


def allocate(root: Path, state_dir: Path, options: Iterable[str]) -> dict[str, int]:
    """Choose a free port for each option, record them in ``state_dir/ports.json`` and return them.

    ``root`` holds the state directories of every sandbox (and the lock);
    ports recorded in any of them are never handed out again.
    """
    wanted = list(options)
    with file_lock(root / LOCK_FILE):
        taken = recorded_ports(root)
        low, high = _usable_range()
        span = high - low + 1
        start = random.SystemRandom().randrange(span)
        chosen: dict[str, int] = {}
        for step in range(span):
            if len(chosen) == len(wanted):
                break
            port = low + (start + step) % span
            if port in taken or not is_free(port):
                continue
            chosen[wanted[len(chosen)]] = port
            taken.add(port)
        if len(chosen) < len(wanted):
            raise PortsExhausted(f"no free port left between {low} and {high}")
        state_dir.mkdir(parents=True, exist_ok=True)
        # Written before the lock is released: that is what makes the ports ours.
        tmp = state_dir / (PORTS_FILE + ".tmp")
        tmp.write_text(json.dumps(chosen, indent=2) + "\n")
        tmp.replace(state_dir / PORTS_FILE)
    return chosen


def read(state_dir: Path) -> dict[str, int]:
    """The ports recorded for one sandbox; for one made before ports were recorded, kwokctl's own."""
    try:
        data = json.loads((state_dir / PORTS_FILE).read_text())
        return {str(k): int(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    opts = Layout(state_dir.name, state_dir).kwokctl_configuration().get("options") or {}
    try:
        return {k: int(opts[k]) for k in (*PORT_OPTIONS, METRICS_SERVER_PORT) if opts.get(k)}
    except (ValueError, TypeError):
        return {}


def recorded_ports(root: Path) -> set[int]:
    taken: set[int] = set()
    try:
        entries = list(root.iterdir())
    except OSError:
        return taken
    for entry in entries:
        if entry.is_dir():
            taken.update(read(entry).values())
    return taken


def is_free(port: int) -> bool:
    """Whether ``port`` binds on loopback and on every address, as kwokctl checks too."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def _usable_range() -> tuple[int, int]:
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    high = min(_HIGH, ephemeral_low - 1)
    # An unusual ephemeral range that leaves (almost) nothing below it: use ours anyway.
    return (_LOW, high) if high - _LOW >= 100 else (_LOW, _HIGH)
