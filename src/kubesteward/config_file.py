"""The project/user config file ``.kubesteward.yaml``.

```yaml
ignore: [KS105, "KS3*"]          # codes or globs never reported
failOn: error                     # default for --fail-on
thresholds:                       # see checks.settings.CheckSettings
  pod_not_ready_seconds: 600
policy:                           # lint, audit, webhook: see kubesteward.policy.config
  profile: production
```

Found as ``--config PATH``, else ``$KUBESTEWARD_CONFIG``, else the first
``.kubesteward.yaml`` in the current directory or one of its parents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubesteward.checks.settings import CheckSettings
from kubesteward.errors import InputError
from kubesteward.model.files import read_text_input

FILE_NAME = ".kubesteward.yaml"


@dataclass(frozen=True)
class ProjectConfig:
    path: Path | None = None
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None
    settings: CheckSettings = field(default_factory=CheckSettings)
    policy: Any = None  # the `policy:` mapping, as read: ``kubesteward.policy.config`` parses it


def find_config(explicit: str | None = None, start: Path | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("KUBESTEWARD_CONFIG"):
        return Path(os.environ["KUBESTEWARD_CONFIG"])
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load_project_config(explicit: str | None = None, start: Path | None = None) -> ProjectConfig:
    path = find_config(explicit, start)
    if path is None:
        return ProjectConfig()
    if not path.is_file():
        raise InputError(f"{path}: config file not found")
    try:
        data: Any = yaml.safe_load(read_text_input(path)) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    unknown = set(data) - {"ignore", "failOn", "thresholds", "policy"}
    if unknown:
        raise InputError(f"{path}: unknown keys: {', '.join(sorted(unknown))}")
    ignore = data.get("ignore") or []
    if isinstance(ignore, str):
        ignore = [p for p in ignore.split(",")]
    try:
        settings = CheckSettings.from_mapping(data.get("thresholds"))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    return ProjectConfig(path=path, ignore=tuple(str(i).strip() for i in ignore), fail_on=data.get("failOn"), settings=settings,
                         policy=data.get("policy"))
