"""Unevaluated annotations (mutation/annotations.py): where a mutant can never be killed."""

from __future__ import annotations

import pytest

from mutation.annotations import (
    Span,
    in_unevaluated_annotation,
    unevaluated_annotation_spans,
)
from tests.helpers import REPO_ROOT

SOURCE = """from __future__ import annotations

class Rule:
    limit: int | None = None

    def check(self, ratio: float | None, *args: int | str, **kw: bytes | None) -> Rule | None:
        kind = isinstance(ratio, int | float)
        return None if kind else self
"""


def _at(source: str, line: int, text: str, shift: int = 0) -> tuple[int, int]:
    return (line, source.splitlines()[line - 1].index(text) + shift)


@pytest.mark.parametrize(
    ("line", "text"),
    [
        (4, "| None = None"),  # class attribute annotation
        (6, "| None, *args"),  # argument
        (6, "| str"),  # *args
        (6, "| None) ->"),  # **kwargs
        (6, "| None:"),  # return
    ],
)
def test_spans_when_operator_inside_annotation_then_found(line: int, text: str) -> None:
    """Every kind of annotation (attribute, argument, *args, **kwargs, return) is covered."""
    spans = unevaluated_annotation_spans(SOURCE)

    assert in_unevaluated_annotation(spans, _at(SOURCE, line, text))


@pytest.mark.parametrize(
    ("line", "text", "shift"), [(7, "| float", 0), (4, "= None", 2), (8, "if kind", 0)]
)
def test_spans_when_operator_in_evaluated_code_then_not_found(
    line: int, text: str, shift: int
) -> None:
    """A ``|`` in code (an isinstance union) and default values stay mutable."""
    spans = unevaluated_annotation_spans(SOURCE)

    assert not in_unevaluated_annotation(spans, _at(SOURCE, line, text, shift))


def test_spans_when_annotations_evaluated_then_none() -> None:
    """Without ``from __future__ import annotations`` annotations run: nothing is skipped."""
    assert unevaluated_annotation_spans(SOURCE.replace("from __future__", "from os")) == []


def test_spans_when_line_has_non_ascii_then_character_columns() -> None:
    """Columns count characters, as Cosmic Ray (parso) does, not UTF-8 bytes."""
    source = "from __future__ import annotations\ndef f(\u00e9\u00e9: int | None) -> None: ...\n"
    bar = _at(source, 2, "| None)")

    (first, *_) = unevaluated_annotation_spans(source)
    assert first == Span((2, bar[1] - len("int ")), (2, bar[1] + len("| None")))
    assert in_unevaluated_annotation([first], bar)


def test_span_when_position_at_end_then_outside() -> None:
    """A span includes its start and excludes its end."""
    span = Span((3, 4), (3, 10))

    assert [span.contains((3, c)) for c in (3, 4, 9, 10)] == [False, True, True, False]


def test_spans_when_risk_modules_read_then_each_has_postponed_annotations() -> None:
    """Every module under mutation postpones annotations, which the skip relies on."""
    for path in [*(REPO_ROOT / "app" / "risk").rglob("*.py"), REPO_ROOT / "app/circuit_breaker.py"]:
        source = path.read_text(encoding="utf-8")
        if "def " in source:
            assert unevaluated_annotation_spans(source), path
