"""Showing untrusted text (app/text.py): escaped to one line, and cut."""

from __future__ import annotations

import pytest

from app.text import cut, printable, shown


@pytest.mark.parametrize("text", ["plain", "ünïcode €", 'quote\'s "both"', ""])
def test_printable_when_nothing_to_escape_then_unchanged(text: str) -> None:
    """Ordinary text of any script passes through as is."""
    assert printable(text) == text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\x1b[2J", "a\\r\\x1b[2J"),
        ("\u202etxt", "\\u202etxt"),
        ("line\u2028sep", "line\\u2028sep"),
        ("back\\slash", "back\\\\slash"),
        ("lone \ud800", "lone \\ud800"),
    ],
)
def test_printable_when_controls_then_escaped_on_one_line(text: str, escaped: str) -> None:
    """Controls, separators, bidi overrides and lone surrogates are escaped like repr."""
    assert printable(text) == escaped
    assert printable(text).isprintable()


def test_cut_and_shown_when_long_then_length_named() -> None:
    """Long text shows its first characters and its length."""
    assert cut("x" * 100, 10) == "xxxxxxxxxx... (100 chars)"
    assert shown("y" * 100, 5) == "'yyyyy'... (100 chars)"
    assert shown("short") == "'short'"


def test_shown_when_object_unprintable_then_placeholder_not_error() -> None:
    """A value too deep for repr, or an int too long to print, never raises."""
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert shown(deep) == "<a list too large to show>"
    assert shown(10**5000) == "<a int too large to show>"
    assert shown([1, 2]) == "[1, 2]"
