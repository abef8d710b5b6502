"""Text from outside (a cluster's event messages and annotations, a silence's comment) made safe to print.

Anyone who can create an Event can put escape sequences in its message; printed as is, ``ESC[2J`` clears the
screen of whoever runs ``diagnose``, and an OSC sequence can retitle the window or forge a hyperlink. So every
such string is shown with its control characters made visible (``\\x1b``), including the C1 controls some
terminals obey and the bidirectional overrides that reorder what is shown, before it reaches a terminal or a
Markdown ticket; :func:`markup_safe` also keeps rich from reading ``[...]`` in it as markup.
"""

from __future__ import annotations

_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_CONTROLS.update({code: f"\\u{code:04x}" for code in _BIDI})
_KEEP_LINES = {code: text for code, text in _CONTROLS.items() if code not in (0x0A, 0x09)}
_ONE_LINE = {**_KEEP_LINES, 0x0A: " "}


def neutralise(text: str, *, one_line: bool = False) -> str:
    """``text`` with control characters (and bidirectional overrides) shown as escapes; tabs and, unless
    ``one_line``, newlines kept (``one_line`` turns a newline into a space)."""
    return text.translate(_ONE_LINE if one_line else _KEEP_LINES)


def markup_safe(text: str, *, one_line: bool = False) -> str:
    """:func:`neutralise`, then rich's markup escaped: what rich prints is exactly the text."""
    from rich.markup import escape  # imported on first use: the CLI loads rich only when it prints

    return escape(neutralise(text, one_line=one_line))
