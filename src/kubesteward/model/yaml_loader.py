"""The YAML loader every manifest goes through: libyaml's safe loader, with PyYAML's tag resolution
(called back from C for every node) trimmed to what the safe loader registers."""

from __future__ import annotations

import re
from typing import Any

import yaml

_Base: Any = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
STR_TAG, SEQ_TAG, MAP_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class ManifestLoader(_Base):  # type: ignore[misc]
    """``CSafeLoader`` resolving the same tags: the implicit resolvers by first character, as tuples made
    once (the base builds a list per scalar), and no path resolvers (the safe loader registers none)."""

    _implicit: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
        first: tuple(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self._implicit.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return STR_TAG
        return SEQ_TAG if kind is yaml.SequenceNode else MAP_TAG


class PositionLoader(ManifestLoader):
    """Composes nodes for their positions only: every node gets the same tag, no resolver runs."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        return STR_TAG
