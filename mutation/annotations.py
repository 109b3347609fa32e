"""Find the mutants Cosmic Ray places inside type annotations, which can never be killed.

Every module under mutation starts with ``from __future__ import annotations``: Python
then keeps annotations as strings and never evaluates them, so ``-> Rule | None``
mutated to ``-> Rule - None`` behaves exactly like the original. Cosmic Ray mutates
them anyway (11 mutants per ``|``). Those mutants are marked skipped before the run;
in a module without the future import annotations are evaluated and stay mutated.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A source range as Cosmic Ray (parso) counts it: 1-based rows, 0-based character columns."""

    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, position: tuple[int, int]) -> bool:
        """True when ``position`` (a mutation's start) lies inside this span."""
        return self.start <= position < self.end


def postponed(tree: ast.Module) -> bool:
    """True when the module has ``from __future__ import annotations``."""
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )


def _annotations(tree: ast.Module) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            found += [arg.annotation for arg in every if arg is not None and arg.annotation]
            if node.returns is not None:
                found.append(node.returns)
    return found


def unevaluated_annotation_spans(source: str) -> list[Span]:
    """The spans of the annotations Python never evaluates in ``source`` (none without
    the future import). Raises SyntaxError for a module that does not parse."""
    tree = ast.parse(source)
    if not postponed(tree):
        return []
    lines = source.splitlines()

    def column(row: int, byte_offset: int) -> int:
        # ast counts UTF-8 bytes, parso counts characters.
        return len(lines[row - 1].encode()[:byte_offset].decode(errors="replace"))

    spans = []
    for node in _annotations(tree):
        if node.end_lineno is None or node.end_col_offset is None:
            continue
        start = (node.lineno, column(node.lineno, node.col_offset))
        end = (node.end_lineno, column(node.end_lineno, node.end_col_offset))
        spans.append(Span(start, end))
    return sorted(spans)


def in_unevaluated_annotation(spans: list[Span], position: tuple[int, int]) -> bool:
    """True when a mutation starting at ``position`` is inside one of ``spans``."""
    return any(span.contains(position) for span in spans)
