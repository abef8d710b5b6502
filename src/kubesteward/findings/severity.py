"""How bad a finding is: info, warning, error (ordered, so ``--fail-on`` compares them)."""

from __future__ import annotations

import enum


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        return cls[value.upper()]
