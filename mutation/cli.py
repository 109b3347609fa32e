"""``python -m mutation run|summary``: parse arguments, call the library, print, exit.

``run`` (what ``make mutation`` calls) tests the selected modules one after the other and
exits 1 when a mutant survived without a docs entry, a docs entry went stale, or work is
left; ``summary`` merges the per-module JSON files of one or more output folders (the
nightly workflow's artifacts) with the standard library alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mutation import report
from mutation.targets import (
    MUTATION_DIR,
    REPO_ROOT,
    TargetError,
    check_files,
    load_config,
    load_targets,
    select,
)
from mutation.tree import TreeError, copy_tree

DEFAULT_OUT = MUTATION_DIR / "out"


class _Terminated(KeyboardInterrupt):
    """SIGTERM: stop Cosmic Ray and its pytest as Ctrl-C does, exit 143."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _finish(
    scores: Sequence[report.ModuleScore], out: Path, check: bool, failed: Sequence[str] = ()
) -> int:
    table = report.format_table(scores)
    found = [*failed, *report.problems(scores)]
    text = table + ("\n\n" + "\n".join(found) if found else "") + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.txt").write_text(text, encoding="utf-8")
    print(text, end="")
    if found and check:
        print(
            f"{len(found)} problem(s): kill each survivor with a test or list it in "
            f"{report.EQUIVALENTS_DOC.relative_to(REPO_ROOT)} with why",
            file=sys.stderr,
        )
        return 1
    return 0


def run(modules: Sequence[str], out: Path, check: bool) -> int:
    """Test the selected targets; the exit code of ``make mutation``."""
    from filelock import FileLock, Timeout

    targets = select(load_targets(), modules)
    check_files(targets)
    config = load_config()
    # Cosmic Ray (the `mutation` extra) is needed from here on: bad arguments are refused
    # above without it.
    from mutation import sessions

    sessions.environment_ready()
    out.mkdir(parents=True, exist_ok=True)
    tree = out / "tree"
    lock = FileLock(out / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"Error: another mutation run uses {out}; wait for it to end", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    scores, failed = [], []
    try:
        copy_tree(REPO_ROOT, tree)
        sessions.use_tree(tree)
        for target in targets:
            print(f"== {target.module} <- {' '.join(target.tests)}", flush=True)
            try:
                score = sessions.run_target(target, config, out, tree, _say)
            except sessions.SessionError as exc:  # the other modules still run
                print(f"Error: {exc}", file=sys.stderr, flush=True)
                failed.append(f"{target.module}: not tested: {str(exc).splitlines()[0]}")
                continue
            killed = score.counts["killed"] + score.counts["timeout"]
            _say(f"  {killed}/{score.scored} killed, {score.counts['equivalent']} equivalent")
            scores.append(score)
    except TreeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("interrupted: results so far are kept; run again to go on", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        lock.release()
    return _finish(scores, out, check, failed)


def _say(message: str) -> None:
    print(message, flush=True)


def summary(folders: Sequence[Path], out: Path, check: bool) -> int:
    """Merge ``*.json`` module summaries found under ``folders``; print and store the table."""
    scores = {}
    for folder in folders:
        for path in sorted(folder.rglob("app.*.json")):
            try:
                score = report.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                print(f"Error: {path} is not a module summary: {exc}", file=sys.stderr)
                return 1
            scores[score.module] = score
    if not scores:
        print(
            f"Error: no module summary (app.*.json) under {', '.join(map(str, folders))}",
            file=sys.stderr,
        )
        return 1
    return _finish([scores[m] for m in sorted(scores)], out, check)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="test the mutants of the selected modules")
    run_p.add_argument("modules", nargs="*", help="module paths or folders (default: all)")
    sum_p = sub.add_parser("summary", help="merge the module summaries of output folders")
    sum_p.add_argument("folders", nargs="+", type=Path)
    for p in (run_p, sum_p):
        p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
        p.add_argument(
            "--no-check",
            dest="check",
            action="store_false",
            help="exit 0 even with undocumented survivors",
        )
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args.modules, args.out.resolve(), args.check)
        return summary(args.folders, args.out.resolve(), args.check)
    except TargetError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
