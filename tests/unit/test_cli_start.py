"""What a CLI start does before a command's first request: no rich, no system CA bundle."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import pytest
from rich.console import Console

from kubesteward.cli.main import _system_ca_bundle_unread
from kubesteward.cli.state import CliState


def test_loading_a_command_imports_no_rich() -> None:
    code = (
        "import sys, kubesteward.cli.main as m\n"
        "m._load_command('diagnose')\n"
        "print(sorted(k for k in sys.modules if k == 'rich' or k.startswith('rich.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("before", [None, "/etc/custom-ca.pem"])
def test_the_ca_bundle_override_is_undone(monkeypatch: pytest.MonkeyPatch, before: str | None) -> None:
    if before is None:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", before)
    with _system_ca_bundle_unread():
        assert os.environ["SSL_CERT_FILE"] == os.devnull
    assert os.environ.get("SSL_CERT_FILE") == before


def test_the_ca_bundle_override_is_undone_after_a_failed_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/custom-ca.pem")
    with pytest.raises(ImportError), _system_ca_bundle_unread():
        __import__("kubesteward.no_such_module")
    assert os.environ["SSL_CERT_FILE"] == "/etc/custom-ca.pem"


def test_log_records_reach_rich_created_on_the_first_one() -> None:
    state = CliState(verbosity=1)
    buffer = io.StringIO()
    state._consoles[True] = Console(file=buffer, width=200)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        state.configure_logging()
        logging.getLogger("kubesteward.test").info("listing %d kinds", 23)
        logging.getLogger("kubesteward.test").debug("not at -v")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "listing 23 kinds" in buffer.getvalue()
    assert "not at -v" not in buffer.getvalue()
