"""Kill scores from Cosmic Ray sessions, with the equivalent mutants of docs/MUTATION.md.

Input is ``cosmic-ray dump`` output (one JSON pair per line), so this module needs no
Cosmic Ray import and the nightly summary job merges the per-module JSON files with the
standard library alone. A survivor listed in the docs' table of equivalent mutants is
counted as equivalent, not as survived; a table row that matches no survivor is stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EQUIVALENTS_DOC = Path(__file__).resolve().parent.parent / "docs" / "MUTATION.md"
EQUIVALENTS_HEADING = "## Equivalent mutants"
OUTCOMES = ("killed", "timeout", "survived", "equivalent", "incompetent", "filtered", "pending")


@dataclass(frozen=True, slots=True)
class Mutant:
    """One work item of a session, reduced to what a person reads in the report."""

    module: str
    operator: str
    definition: str
    line: int
    before: str
    after: str
    outcome: str  # killed, timeout, survived, incompetent, filtered or pending
    diff: str = ""


@dataclass(frozen=True, slots=True)
class Equivalent:
    """A documented equivalent mutant: where it is, what it changes and why it cannot die."""

    module: str
    definition: str
    operator: str
    before: str
    after: str
    why: str

    def matches(self, mutant: Mutant) -> bool:
        """Same module, function, operator and changed line (before and after)."""
        return (self.module, self.definition, self.operator, self.before, self.after) == (
            mutant.module,
            mutant.definition,
            mutant.operator,
            mutant.before,
            mutant.after,
        )


@dataclass(slots=True)
class ModuleScore:
    """Counts of one module's mutants by outcome, plus the run's wall time."""

    module: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    seconds: float = 0.0
    survivors: list[dict[str, Any]] = field(default_factory=list)
    stale_equivalents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mutants(self) -> int:
        """Mutants Cosmic Ray made, filtered ones included."""
        return sum(self.counts.values())

    @property
    def scored(self) -> int:
        """Mutants that count for the score: tested, not equivalent, not incompetent."""
        return self.counts["killed"] + self.counts["timeout"] + self.counts["survived"]

    @property
    def score(self) -> float | None:
        """Killed (timeouts included) / scored; None when nothing was scored."""
        if not self.scored:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / self.scored


def _changed_lines(diff: str, sign: str) -> str:
    lines = diff.splitlines()
    changed = [
        line[1:].strip()
        for line in lines
        if line.startswith(sign) and not line.startswith(sign * 3) and line[1:].strip()
    ]
    return " / ".join(changed)


def _outcome(result: dict[str, Any] | None) -> str:
    if result is None:
        return "pending"
    worker = result.get("worker_outcome")
    if worker in ("skipped", "no-test"):
        return "filtered"
    if worker != "normal" or result.get("test_outcome") == "incompetent":
        return "incompetent"
    if result.get("test_outcome") == "survived":
        return "survived"
    return "timeout" if result.get("output") == "timeout" else "killed"


def parse_dump(lines: Iterable[str]) -> list[Mutant]:
    """Mutants from ``cosmic-ray dump`` lines; raises ValueError on a line that is not one."""
    mutants = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item, result = json.loads(line)
            (spec,) = item["mutations"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cosmic-ray dump line {number} is not a work item: {exc}") from exc
        diff = (result or {}).get("diff") or ""
        mutants.append(
            Mutant(
                module=spec["module_path"],
                operator=spec["operator_name"],
                definition=spec.get("definition_name") or "",
                line=int(spec["start_pos"][0]),
                before=_changed_lines(diff, "-"),
                after=_changed_lines(diff, "+"),
                outcome=_outcome(result),
                diff=diff,
            )
        )
    return mutants


# -- EQUIVALENT MUTANTS (docs/MUTATION.md) --------------------------------------------


def _cells(row: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    return [cell.strip().replace("\\|", "|").strip("`").strip() for cell in cells]


def read_equivalents(markdown: str) -> list[Equivalent]:
    """The table under "## Equivalent mutants": module | function | operator | before |
    after | why; ``(module)`` for code outside any function, ``(removed)`` for a deleted
    line. Raises ValueError naming a row that does not have six cells."""
    _, found, rest = markdown.partition(EQUIVALENTS_HEADING)
    if not found:
        return []
    section = re.split(r"^## ", rest, maxsplit=1, flags=re.M)[0]
    rows = [line for line in section.splitlines() if line.lstrip().startswith("|")]
    equivalents = []
    for row in rows[2:]:  # header and separator
        cells = _cells(row)
        if len(cells) != 6:
            raise ValueError(f"{EQUIVALENTS_DOC.name}: equivalent-mutant row needs 6 cells: {row}")
        after = "" if cells[4] in ("", "(removed)") else cells[4]
        where = "" if cells[1] == "(module)" else cells[1]  # a class decorator, say
        equivalents.append(Equivalent(cells[0], where, cells[2], cells[3], after, cells[5]))
    return equivalents


def score_module(
    module: str, mutants: Sequence[Mutant], equivalents: Sequence[Equivalent]
) -> ModuleScore:
    """Count ``module``'s mutants; survivors that a docs row explains count as equivalent."""
    score = ModuleScore(module)
    mine = [e for e in equivalents if e.module == module]
    used: set[int] = set()
    for mutant in mutants:
        outcome = mutant.outcome
        if outcome == "survived":
            hits = [i for i, e in enumerate(mine) if e.matches(mutant)]
            if hits:
                outcome = "equivalent"
                used.update(hits)
            else:
                score.survivors.append(asdict(mutant))
        score.counts[outcome] += 1
    if not score.counts["pending"]:
        score.stale_equivalents = [asdict(e) for i, e in enumerate(mine) if i not in used]
    return score


# -- OUTPUT ---------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def total(scores: Sequence[ModuleScore]) -> ModuleScore:
    """The sum of ``scores`` as one row named TOTAL."""
    row = ModuleScore("TOTAL")
    for score in scores:
        for key, value in score.counts.items():
            row.counts[key] += value
        row.seconds += score.seconds
    return row


def format_table(scores: Sequence[ModuleScore]) -> str:
    """A fixed-width table: one row per module and a TOTAL row."""
    head = "module mutants filtered killed timeout survived equiv incomp pending score wall_s"
    lines = [
        "{:<40} {:>7} {:>8} {:>6} {:>7} {:>8} {:>5} {:>6} {:>7} {:>7} {:>7}".format(*head.split())
    ]
    for row in [*scores, total(scores)]:
        c = row.counts
        lines.append(
            f"{row.module:<40} {row.mutants:>7} {c['filtered']:>8} {c['killed']:>6} "
            f"{c['timeout']:>7} {c['survived']:>8} {c['equivalent']:>5} "
            f"{c['incompetent']:>6} {c['pending']:>7} {_pct(row.score):>7} {row.seconds:>7.0f}"
        )
    return "\n".join(lines)


def to_json(score: ModuleScore) -> dict[str, Any]:
    """``score`` as the per-module JSON file of the run (the nightly summary merges them)."""
    return {
        "module": score.module,
        "counts": score.counts,
        "seconds": round(score.seconds, 1),
        "survivors": score.survivors,
        "stale_equivalents": score.stale_equivalents,
    }


def from_json(data: dict[str, Any]) -> ModuleScore:
    """The inverse of :func:`to_json`; raises KeyError or TypeError on another shape."""
    counts = dict.fromkeys(OUTCOMES, 0) | {k: int(v) for k, v in data["counts"].items()}
    return ModuleScore(
        module=str(data["module"]),
        counts=counts,
        seconds=float(data.get("seconds", 0.0)),
        survivors=list(data.get("survivors", [])),
        stale_equivalents=list(data.get("stale_equivalents", [])),
    )


def problems(scores: Sequence[ModuleScore]) -> list[str]:
    """What keeps the run from passing: undocumented survivors, stale docs rows, pending work."""
    found: list[str] = []
    for score in scores:
        found.extend(
            f"survived: {s['module']}:{s['line']} {s['definition']} {s['operator']}: "
            f"`{s['before']}` -> `{s['after'] or '(removed)'}`"
            for s in score.survivors
        )
        found.extend(
            f"stale {EQUIVALENTS_DOC.name} row (no such survivor): {e['module']} "
            f"{e['definition']} {e['operator']} `{e['before']}`"
            for e in score.stale_equivalents
        )
        if score.counts["incompetent"]:
            found.append(
                f"{score.module}: {score.counts['incompetent']} mutants could not be tested "
                "(Cosmic Ray failed on them; see the module's .html report)"
            )
        if score.counts["pending"]:
            found.append(f"{score.module}: {score.counts['pending']} mutants not tested yet")
    return found
