"""Showing untrusted text to a person: escaped, so it cannot forge a line, and cut.

Called wherever a message quotes something the program did not write itself: a reason
read from the circuit breaker file, a value from ``.env`` or the environment, a line
of a file. Nothing here raises.
"""

from __future__ import annotations

SHOWN_CHARS = 80


def printable(text: str) -> str:
    """``text`` with every control or invisible character escaped the way ``repr`` does.

    Newlines, carriage returns, terminal escapes (``\\x1b``), other C0/C1 controls,
    Unicode line/paragraph separators and format characters (e.g. bidi overrides) become
    ``\\n``, ``\\x1b``, ``\\u202e`` ...; a backslash is doubled, so the escaped form is
    unambiguous. Ordinary letters of any script stay as they are.
    """
    if text.isprintable() and "\\" not in text:
        return text  # the common case, without building a repr
    return repr(text)[1:-1]


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """At most ``limit`` characters of ``text``, then ``... (N chars)`` naming the length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A quoted, escaped and cut rendering of ``value`` for messages: ``'abc'``.

    Strings are cut *before* quoting, so a 10,000 character value shows its first
    ``limit`` characters and its length; other objects use their ``repr``, cut alike.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value)} chars)"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deeply; an int too long to print
        return f"<a {type(value).__name__} too large to show>"
    return cut(text, limit)
