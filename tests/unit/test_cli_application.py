"""The application's name sync and drift both derive from a source (``opt.application``), so ``drift -f X``
after ``sync -f X`` finds the same ApplySet without --app."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesteward.cli.options import application
from kubesteward.drift.source import DesiredSource, GitSpec
from kubesteward.errors import UsageError


@pytest.mark.parametrize(("source", "expected"), [
    (DesiredSource(paths=(Path("deploy/"),)), "deploy"),
    (DesiredSource(paths=(Path("apps/shop.yaml"), Path("other/"))), "shop"),
    (DesiredSource(git=GitSpec("/srv/git/shop", "main", "deploy/web")), "web"),
    # --path . names no directory: the repository does, without its .git suffix, local or as a URL.
    (DesiredSource(git=GitSpec("/srv/git/shop.git", "main", ".")), "shop"),
    (DesiredSource(git=GitSpec("file:///srv/git/Shop_App/", "v1.2", ".")), "shop-app"),
])
def test_the_default_name_comes_from_the_source(source: DesiredSource, expected: str) -> None:
    assert application(None, source) == expected


def test_a_given_name_is_checked_not_changed() -> None:
    source = DesiredSource(paths=(Path("deploy/"),))
    assert application("shop-prod", source) == "shop-prod"
    with pytest.raises(UsageError, match="--app 'Shop'"):
        application("Shop", source)
