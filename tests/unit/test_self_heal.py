"""Self-heal's pure parts: the backoff, what a revert says, when a tick failed (the loop itself runs end to end
in tests/e2e/test_sync_self_heal.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from kubesteward.cli.self_heal import interval_seconds
from kubesteward.drift.reconcile import SyncAction
from kubesteward.drift.self_heal import HealTick, Revert, next_delay
from kubesteward.errors import UsageError

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def test_backoff_doubles_per_failure_up_to_ten_intervals_and_resets() -> None:
    assert [next_delay(60, failures) for failures in range(6)] == [60, 120, 240, 480, 600, 600]
    assert next_delay(2, 0) == 2  # after a success: the interval again


def test_a_revert_names_the_object_and_the_fields_never_a_value() -> None:
    update = SyncAction("ConfigMap", "", "shop", "settings", "update", "changed /data/color")
    done = Revert("ConfigMap/shop/settings", "drifted", ("/data/color",), update)
    assert done.done and done.describe() == "ConfigMap/shop/settings: /data/color"
    created = Revert("Secret/shop/creds", "missing", (), SyncAction("Secret", "", "shop", "creds", "create"))
    assert created.describe() == "Secret/shop/creds: re-created"
    refused = SyncAction("Deployment", "apps", "shop", "web", "error", "namespace shop does not exist")
    failed = Revert("Deployment.apps/shop/web", "drifted", ("/spec/replicas",), refused)
    assert not failed.done
    assert failed.describe() == ("Deployment.apps/shop/web: /spec/replicas not reverted "
                                 "(error: namespace shop does not exist)")
    untouched = Revert("ConfigMap/shop/x", "drifted", ("/data/a",), SyncAction("ConfigMap", "", "shop", "x", "unchanged"))
    assert not untouched.done  # drift says it differs, the sync changed nothing: not healed


def test_a_tick_fails_on_an_error_or_a_revert_not_done() -> None:
    assert not HealTick(NOW, "deploy/", None).failed  # nothing drifted
    assert HealTick(NOW, "deploy/", None, error="deploy/app.yaml:3: invalid YAML").failed
    refused = Revert("ConfigMap/shop/x", "drifted", ("/data/a",), SyncAction("ConfigMap", "", "shop", "x", "conflict"))
    assert HealTick(NOW, "deploy/", None, (refused,)).failed


def test_the_interval_is_a_positive_duration() -> None:
    assert interval_seconds("1m") == 60 and interval_seconds("2s") == 2
    for bad in ("0s", "soon", "-1s"):
        with pytest.raises(UsageError, match="--interval"):
            interval_seconds(bad)
