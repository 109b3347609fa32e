"""Which files each backup component may hold: one rule for backing up and restoring.

A backup folder may come from anywhere (another machine, a mail attachment, an attacker
who recomputed every checksum). Its manifest and archive members therefore never choose
*where* a file goes or *what kind* of file it is: each component restores only files of
the kinds it really has, into its own folder (see :mod:`app.backup.layout`). A backup
applies the same rules and leaves out (with a note) what a restore would refuse, so
every backup this tool makes restores.

Path parts are plain ASCII (``A-Z a-z 0-9 . _ -``): no NUL, newline, backslash, colon
or terminal escape can reach a file name or a line of output, and two names can never
differ only by Unicode normalisation. Names that differ only by case are refused as
duplicates by the restore (they collide on case-insensitive file systems).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from app.errors import BackupError

MAX_PATH = 1024
MAX_PART = 255
_PART = re.compile(r"[A-Za-z0-9._-]+")
_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_STEM = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
LAST_RESULT = ".last_result.json"  # Freqtrade's pointer to the newest result


def show(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: safe to print, never a wall of text."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def parse_relative(text: object, what: str) -> tuple[str, ...]:
    """The parts of a strict relative path (``a/b.json``); BackupError naming the fault."""
    if not isinstance(text, str):
        raise BackupError(f"{what} {show(text)} is not a relative path (not a string)")
    if not text:
        raise BackupError(f"{what} is empty; it is not a relative path")
    if len(text) > MAX_PATH:
        raise BackupError(f"{what} {show(text)} is longer than {MAX_PATH} characters")
    if text.startswith("/"):
        raise BackupError(f"{what} {show(text)} is absolute: it escapes its folder")
    parts = tuple(text.split("/"))
    for part in parts:
        if part == "..":
            raise BackupError(f"{what} {show(text)} contains '..': it escapes its folder")
        if part in ("", "."):
            raise BackupError(
                f"{what} {show(text)} is not a relative path in normal form (empty or '.' part)"
            )
        if len(part) > MAX_PART:
            raise BackupError(f"{what} {show(text)} has a name longer than {MAX_PART} characters")
        if not _PART.fullmatch(part):
            raise BackupError(
                f"{what} {show(text)} is not a relative path of plain names (only A-Z a-z "
                "0-9 . _ - are allowed; no backslash, colon, NUL, newline or space)"
            )
    return parts


def _plain_folders(parts: tuple[str, ...], depth: int) -> str | None:
    if len(parts) > depth:
        return f"is nested deeper than {depth - 1} folder(s)"
    if any(not _FOLDER.fullmatch(p) for p in parts[:-1]):
        return "lies in a hidden folder"
    return None


# component -> (deepest allowed path length, file-name pattern, what the component holds)
_FILES: dict[str, tuple[int, re.Pattern[str], str]] = {
    "backtests": (
        3,
        re.compile(rf"{_STEM}\.(?:zip|json|feather)|{re.escape(LAST_RESULT)}"),
        "Freqtrade backtest results (.zip, .json, .feather)",
    ),
    "hyperopts": (  # sweeps/<id>/<Strategy>/fold_<n>/<file>.json is the deepest
        5,
        re.compile(rf"{_STEM}\.(?:fthypt|json|log)|{re.escape(LAST_RESULT)}"),
        "hyperopt results and sweep records (.fthypt, .json, .log; no strategy code)",
    ),
    "logs": (
        3,
        re.compile(rf"{_STEM}\.(?:log|jsonl|txt)(?:\.[0-9]{{1,3}})?"),
        "log files (.log, .jsonl, .txt and their rotated .1, .2 ...)",
    ),
    "state": (2, re.compile(rf"{_STEM}\.(?:json|jsonl)"), "state files (.json, .jsonl)"),
    "params": (1, re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.json"), "parameter files (<Strategy>.json)"),
    "trades": (
        3,
        re.compile(r"tradesv3[A-Za-z0-9._-]*\.sqlite"),
        "trade databases (tradesv3*.sqlite)",
    ),
    "registry": (1, re.compile(rf"{_STEM}"), "the registry database"),
}
STATE_EXCLUDED = ("running",)  # per-process slot locks: restoring them would block runs


def refusal(component: str, parts: tuple[str, ...], reserved: Collection[str] = ()) -> str | None:
    """Why ``parts`` (relative to the component's folder) may not be in ``component``.

    ``None`` when it may. ``reserved`` names top folders of user_data that belong to other
    components or hold code (for ``trades``, whose folder is user_data itself).
    """
    depth, pattern, holds = _FILES[component]
    problem = _plain_folders(parts, depth)
    if problem is not None:
        return f"{problem} (the {component} part holds {holds})"
    if not pattern.fullmatch(parts[-1]):
        return f"is not one of the {component} part's files: {holds}"
    if component == "state" and parts[0] in STATE_EXCLUDED:
        return "is a concurrency slot lock (per process; never restored)"
    if component == "trades" and len(parts) > 1 and parts[0] in reserved:
        return f"lies in {parts[0]}/, which is not a place for trade databases"
    return None


def check(
    component: str, text: object, what: str, reserved: Collection[str] = ()
) -> tuple[str, ...]:
    """:func:`parse_relative` plus :func:`refusal`, as one BackupError."""
    parts = parse_relative(text, what)
    problem = refusal(component, parts, reserved)
    if problem is not None:
        raise BackupError(f"{what} {show(text)} {problem}; refusing the backup")
    return parts
