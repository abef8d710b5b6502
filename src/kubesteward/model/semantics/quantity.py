"""Kubernetes resource quantities ("250m", "1.5Gi", "2e3") as numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}


def parse_quantity(value: str | int | float | None) -> float | None:
    """A quantity as a float in base units (cores, bytes); None when unparseable."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if not text:
        return None
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], Decimal(factor))
    if text[-1] in "numkMGTPE" and not text[-2:-1].lower() == "e":
        return _number(text[:-1], _DECIMAL[text[-1]])
    return _number(text, Decimal(1))


def _number(text: str, factor: Decimal) -> float | None:
    try:
        return float(Decimal(text) * factor)
    except (InvalidOperation, ValueError):
        return None


def format_bytes(value: float) -> str:
    for suffix, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= factor:
            number = value / factor
            return f"{number:.0f}{suffix}" if number == int(number) else f"{number:.1f}{suffix}"
    return f"{value:.0f}"
