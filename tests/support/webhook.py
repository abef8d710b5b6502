"""The admission webhook as a user runs it: ``kubesteward webhook serve`` in a process of its own, and
``webhook install`` registering it (configurations of their own name, limited to one namespace)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import cli


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    cert_dir: Path

    @property
    def state(self) -> Path:
        """The audit trail install and uninstall record their writes in."""
        return self.cert_dir.parent / "audit.db"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_server(cert_dir: Path, *args: str) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "kubesteward", "webhook", "serve", "--listen", "127.0.0.1:0", "--cert-dir",
         str(cert_dir), *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        found = re.search(r"serving (https://127\.0\.0\.1:\d+)", line)
        if found:
            return Served(process, found.group(1), cert_dir)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"webhook server did not start: {''.join(seen)}")


def install(kubeconfig: Path, served: Served, namespace: str, names: list[str], *args: str) -> str:
    name = f"ks-e2e-{uuid.uuid4().hex[:8]}"
    names.append(name)
    result = cli("webhook", "install", "--url", served.url, "--cert-dir", str(served.cert_dir), "--name", name, "--state", str(served.state),
                 "-n", namespace, "--kubeconfig", str(kubeconfig), *args)
    assert result.returncode == 0, result.stderr
    assert f"applied ValidatingWebhookConfiguration/{name}" in result.stdout or "--no-validate" in args
    return name
