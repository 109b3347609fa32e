"""Kill scores (mutation/report.py): outcomes, documented equivalents, totals and problems."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mutation.report import (
    EQUIVALENTS_DOC,
    Equivalent,
    ModuleScore,
    format_table,
    from_json,
    parse_dump,
    problems,
    read_equivalents,
    score_module,
    to_json,
    total,
)
from mutation.targets import load_targets

MODULE = "app/risk/rules/stale_data.py"
DIFF = (
    "--- mutation diff ---\n--- a/app/risk/rules/stale_data.py\n"
    "+++ b/app/risk/rules/stale_data.py\n@@ -45,7 +45,7 @@\n"
    "         age = now - closed_at\n"
    "-        if age > timeframe + self.timeout:\n"
    "+        if age >= timeframe + self.timeout:\n"
    "             return deny(\n"
)


def _line(result: dict[str, Any] | None, operator: str = "core/X", diff: str = DIFF) -> str:
    item = {
        "job_id": "j",
        "mutations": [
            {
                "module_path": MODULE,
                "operator_name": operator,
                "occurrence": 0,
                "start_pos": [46, 15],
                "end_pos": [46, 16],
                "operator_args": {},
                "definition_name": "StaleDataRule.check",
            }
        ],
    }
    if result is not None:
        result = {"output": "", "test_outcome": None, "diff": diff} | result
    return json.dumps([item, result])


def _normal(test: str, output: str = "1 failed") -> dict[str, Any]:
    return {"worker_outcome": "normal", "test_outcome": test, "output": output}


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (_normal("killed"), "killed"),
        (_normal("killed", output="timeout"), "timeout"),
        (_normal("survived", output="5 passed"), "survived"),
        (_normal("incompetent"), "incompetent"),
        ({"worker_outcome": "exception", "test_outcome": "incompetent"}, "incompetent"),
        ({"worker_outcome": "abnormal"}, "incompetent"),
        ({"worker_outcome": "skipped", "diff": None}, "filtered"),
        ({"worker_outcome": "no-test", "diff": None}, "filtered"),
        (None, "pending"),
    ],
)
def test_parse_dump_when_result_given_then_outcome_named(
    result: dict[str, Any] | None, outcome: str
) -> None:
    """Each Cosmic Ray outcome maps to one report column; a timeout is not a plain kill."""
    (mutant,) = parse_dump([_line(result), ""])

    assert mutant.outcome == outcome
    assert (mutant.module, mutant.definition, mutant.line) == (MODULE, "StaleDataRule.check", 46)


def test_parse_dump_when_diff_given_then_changed_line_before_and_after() -> None:
    """The changed line is read from the diff, stripped, without the file header lines."""
    (mutant,) = parse_dump([_line(_normal("survived"))])

    assert mutant.before == "if age > timeframe + self.timeout:"
    assert mutant.after == "if age >= timeframe + self.timeout:"


def test_parse_dump_when_line_removed_then_after_empty() -> None:
    """A removed line (a decorator) has no after."""
    diff = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-    @abstractmethod\n     def f(self):\n"
    (mutant,) = parse_dump([_line(_normal("survived"), diff=diff)])

    assert (mutant.before, mutant.after) == ("@abstractmethod", "")


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '[{"mutations": []}, null]', "{}"])
def test_parse_dump_when_line_is_not_a_work_item_then_error_with_line_number(line: str) -> None:
    """A line that is not a (work item, result) pair is refused with its number."""
    with pytest.raises(ValueError, match="dump line 2 is not a work item"):
        parse_dump([_line(None), line])


ROW_1 = (
    "| app/risk/rules/stale_data.py | StaleDataRule.check | core/X "
    "| `if age > timeframe + self.timeout:` | `if age >= timeframe + self.timeout:` "
    "| times are never equal here |"
)
ROW_2 = (
    "| app/risk/rules/base.py | (module) | core/RemoveDecorator | `@classmethod` "
    "| (removed) | abstract \\| overridden |"
)
DOC = f"""# Mutation testing

## Equivalent mutants

| module | function | operator | before | after | why |
|---|---|---|---|---|---|
{ROW_1}
{ROW_2}

## Next section

| not | an | equivalent |
|---|---|---|
| a | b | c |
"""


def test_read_equivalents_when_table_given_then_rows_of_that_section_only() -> None:
    """Rows come from the equivalents section only; `(module)`, `(removed)`, `\\|` are read."""
    first, second = read_equivalents(DOC)

    assert first.before == "if age > timeframe + self.timeout:"
    assert first.why == "times are never equal here"
    assert (second.definition, second.after, second.why) == ("", "", "abstract | overridden")


def test_read_equivalents_when_row_has_wrong_cells_then_error_naming_row() -> None:
    """A row with a missing cell is refused rather than silently misread."""
    broken = DOC.replace("| times are never equal here |", "|")

    with pytest.raises(ValueError, match="needs 6 cells"):
        read_equivalents(broken)


def test_read_equivalents_when_no_section_then_none() -> None:
    """A document without the section documents nothing."""
    assert read_equivalents("# Mutation testing\n") == []


def test_score_when_survivor_documented_then_equivalent_not_survivor() -> None:
    """A documented survivor counts as equivalent and leaves the score's denominator."""
    lines = [_line(_normal("killed"))] * 3 + [_line(_normal("survived", "ok"))]
    lines += [
        _line(_normal("survived", "ok"), operator="core/Y"),
        _line({"worker_outcome": "skipped"}),
    ]

    score = score_module(MODULE, parse_dump(lines), read_equivalents(DOC))

    assert score.counts == {
        "killed": 3,
        "timeout": 0,
        "survived": 1,
        "equivalent": 1,
        "incompetent": 0,
        "filtered": 1,
        "pending": 0,
    }
    assert (score.mutants, score.scored, score.score) == (6, 4, 0.75)
    assert [s["operator"] for s in score.survivors] == ["core/Y"]
    assert score.stale_equivalents == []


def test_score_when_documented_mutant_now_killed_then_row_is_stale() -> None:
    """A docs row that matches no survivor of a finished session is reported as stale."""
    score = score_module(MODULE, parse_dump([_line(_normal("killed"))]), read_equivalents(DOC))

    assert [e["definition"] for e in score.stale_equivalents] == ["StaleDataRule.check"]
    assert any("stale MUTATION.md row" in p for p in problems([score]))


def test_score_when_work_pending_then_no_stale_rows_and_pending_reported() -> None:
    """While mutants are pending no docs row is stale; the pending work is a problem."""
    score = score_module(MODULE, parse_dump([_line(None)]), read_equivalents(DOC))

    assert score.stale_equivalents == []
    assert score.score is None
    assert problems([score]) == [f"{MODULE}: 1 mutants not tested yet"]


def test_score_when_timeouts_then_counted_as_killed() -> None:
    """A mutant that makes the tests hang is killed by the timeout."""
    lines = [_line(_normal("killed", output="timeout")), _line(_normal("survived", "ok"), "core/Y")]

    assert score_module(MODULE, parse_dump(lines), []).score == 0.5


def test_problems_when_survivor_or_incompetent_then_each_named() -> None:
    """Each undocumented survivor is named with file, line, function and the change."""
    lines = [_line(_normal("survived", "ok"), "core/Y"), _line({"worker_outcome": "exception"})]

    found = problems([score_module(MODULE, parse_dump(lines), [])])

    assert found[0] == (
        f"survived: {MODULE}:46 StaleDataRule.check core/Y: "
        "`if age > timeframe + self.timeout:` -> `if age >= timeframe + self.timeout:`"
    )
    assert "1 mutants could not be tested" in found[1]


def test_total_when_modules_summed_then_table_has_total_row() -> None:
    """The TOTAL row adds the counts and the wall times of every module."""
    a = ModuleScore("a.py", seconds=10.0)
    a.counts.update(killed=9, survived=1)
    b = ModuleScore("b.py", seconds=5.5)
    b.counts.update(killed=1, timeout=1, equivalent=2)

    row = total([a, b])
    table = format_table([a, b]).splitlines()

    assert (row.counts["killed"], row.counts["timeout"], row.seconds) == (10, 1, 15.5)
    assert row.score == pytest.approx(11 / 12)
    assert table[-1].split() == [
        "TOTAL",
        "14",
        "0",
        "10",
        "1",
        "1",
        "2",
        "0",
        "0",
        "91.7",
        "%",
        "16",
    ]


def test_json_when_round_tripped_then_same_score() -> None:
    """The per-module JSON the nightly summary merges keeps every count and survivor."""
    score = score_module(MODULE, parse_dump([_line(_normal("survived", "ok"))]), [])
    score.seconds = 12.25

    back = from_json(json.loads(json.dumps(to_json(score))))

    assert (back.module, back.counts, back.survivors) == (MODULE, score.counts, score.survivors)
    assert back.seconds == 12.2


def test_docs_when_read_then_every_equivalent_names_a_target_and_a_reason() -> None:
    """docs/MUTATION.md's equivalents parse, name mutated modules and say why."""
    modules = {t.module for t in load_targets()}
    equivalents = read_equivalents(EQUIVALENTS_DOC.read_text(encoding="utf-8"))

    assert equivalents
    for equivalent in equivalents:
        assert isinstance(equivalent, Equivalent)
        assert equivalent.module in modules, equivalent
        assert equivalent.operator.startswith("core/"), equivalent
        assert equivalent.before and len(equivalent.why) > 20, equivalent
