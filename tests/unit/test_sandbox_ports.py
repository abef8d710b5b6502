"""Sandbox port allocation with real sockets and real concurrent processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from kubesteward.sandbox import ports


def test_recorded_ports_are_never_handed_out_again(tmp_path: Path) -> None:
    first = ports.allocate(tmp_path, tmp_path / "a", ports.PORT_OPTIONS)
    assert set(first) == set(ports.PORT_OPTIONS)
    assert len(set(first.values())) == len(first)
    assert json.loads((tmp_path / "a" / ports.PORTS_FILE).read_text()) == first
    # Nothing listens on them (the sandbox is not started yet), yet they stay its own.
    assert all(ports.is_free(port) for port in first.values())
    for name in "bcdefgh":
        other = ports.allocate(tmp_path, tmp_path / name, ports.PORT_OPTIONS)
        assert not set(other.values()) & set(first.values())
    assert len(ports.recorded_ports(tmp_path)) == 8 * len(ports.PORT_OPTIONS)


def test_a_port_in_use_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not ports.is_free(listener.getsockname()[1])


def test_concurrent_allocations_from_separate_processes_are_disjoint(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kubesteward.sandbox import ports; "
        "root = Path(sys.argv[1]); ports.allocate(root, root / sys.argv[2], ports.PORT_OPTIONS)"
    )
    names = [f"s{i}" for i in range(8)]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), name]) for name in names]
    assert [p.wait(timeout=60) for p in procs] == [0] * len(names)
    seen: set[int] = set()
    for name in names:
        chosen = ports.read(tmp_path / name)
        assert set(chosen) == set(ports.PORT_OPTIONS)
        assert not seen & set(chosen.values()), name
        seen |= set(chosen.values())
