"""Strict readers for what operators type: ``.env`` files and plain decimal numbers.

Used by the guard settings (:mod:`app.settings`) and meant for every other settings
class that reads ``.env`` or numbers from the environment, so that all of them accept
and refuse the same things:

* :func:`read_dotenv` reads a ``.env`` file with python-dotenv's own parser, but refuses
  what python-dotenv would silently skip or misread: a line it cannot parse, a name
  without ``=``, a name given twice, text that is not UTF-8, and anything at the path
  that is not a regular file of at most :data:`MAX_DOTENV_BYTES` (a FIFO, a folder, a
  device; it never blocks). Every refusal is a :class:`ConfigError` naming the file, the
  line (or byte offset) and the fix.
* :func:`plain_int` / :func:`plain_decimal` accept ASCII digits with an optional leading
  ``-`` (and one decimal point for decimals) and nothing else: no spaces, ``+``, ``_``,
  exponent, hex, ``inf``/``nan`` or non-ASCII digits. Python's ``int()`` and pydantic
  accept ``1_000`` or ``١٢``; a limit typed that way is most likely a mistake.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Annotated

from dotenv.main import resolve_variables
from dotenv.parser import parse_stream
from pydantic import BeforeValidator

from app.errors import ConfigError
from app.safe_files import UnsafeFileError, read_bounded
from app.text import cut, printable, shown

MAX_DOTENV_BYTES = 1024 * 1024
MAX_NUMBER_CHARS = 40
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_NEWLINE = re.compile(r"\r\n|\n|\r")
INTEGER_RULE = "ASCII digits 0-9 only, '-' first if negative: no spaces, '+', '_' or '.'"
DECIMAL_RULE = (
    "ASCII digits 0-9 and at most one '.', '-' first if negative: no spaces, '+', '_', "
    "exponent, inf or nan"
)
_LINE_FIX = (
    "write NAME=value (quote a value with spaces, quotes or # in double quotes), "
    "or start the line with # to turn it into a comment"
)


# -- NUMBERS ----------------------------------------------------------------------------


def plain_int(text: str) -> int:
    """``text`` as an int when it is written as :data:`INTEGER_RULE` says; else ValueError."""
    if len(text) > MAX_NUMBER_CHARS or not _INTEGER.fullmatch(text):
        raise ValueError(f"write {INTEGER_RULE}")
    return int(text)


def plain_decimal(text: str) -> float:
    """``text`` as a float when it is written as :data:`DECIMAL_RULE` says; else ValueError."""
    if len(text) > MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(text):
        raise ValueError(f"write {DECIMAL_RULE}")
    return float(text)


def _zero_or_one(value: object) -> object:
    if isinstance(value, str):
        if value not in ("0", "1"):
            raise ValueError("not 0 or 1")
        return value == "1"
    return value


def _int_text(value: object) -> object:
    return plain_int(value) if isinstance(value, str) else value


def _decimal_text(value: object) -> object:
    return plain_decimal(value) if isinstance(value, str) else value


# Field types for pydantic settings: text goes through the strict parsers, typed values
# (from code and tests) through pydantic's own checks.
PlainInt = Annotated[int, BeforeValidator(_int_text)]
OptionalPlainInt = Annotated[int | None, BeforeValidator(_int_text)]
OptionalPlainDecimal = Annotated[float | None, BeforeValidator(_decimal_text)]
ZeroOrOne = Annotated[bool, BeforeValidator(_zero_or_one)]


# -- .ENV FILES -------------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = printable(str(path))
        raise ConfigError(
            f"{where} is not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start} (line {line}); save the file as UTF-8"
        ) from None


def _line_of(original: str, first_line: int) -> int:
    # python-dotenv reports the line where its reader stopped, before blank lines it
    # skipped; count them so that the message points at the line itself.
    leading = original[: len(original) - len(original.lstrip())]
    return first_line + len(_NEWLINE.findall(leading))


def parse_dotenv(path: Path, text: str) -> dict[str, str]:
    """The ``NAME=value`` pairs of ``.env`` text, variables ``${X}`` expanded as python-dotenv
    does; :class:`ConfigError` for the first line that is not a clean assignment."""
    where = printable(str(path))
    pairs: list[tuple[str, str | None]] = []
    seen: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = _line_of(binding.original.string, binding.original.line)
        if binding.error:
            raise ConfigError(
                f"{where}, line {line}: cannot parse {shown(binding.original.string.strip())}; "
                f"{_LINE_FIX}"
            )
        if binding.key is None:
            continue  # a comment or blank lines
        name = binding.key
        if binding.value is None:
            raise ConfigError(
                f"{where}, line {line}: {shown(name)} has no '=' and so no value; write "
                f"{printable(cut(name))}=value, or delete the line"
            )
        if name in seen:
            raise ConfigError(
                f"{where}, line {line}: {shown(name)} is set again (first on line "
                f"{seen[name]}); keep one of the two lines"
            )
        seen[name] = line
        pairs.append((name, binding.value))
    resolved = resolve_variables(pairs, override=True)
    return {name: value or "" for name, value in resolved.items()}


def read_dotenv(path: Path) -> dict[str, str]:
    """Every ``NAME=value`` of the ``.env`` file at ``path``; ``{}`` when there is no file.

    Never blocks and never returns partial results: any problem is a
    :class:`ConfigError` (exit code 2) naming the file, the line and the fix.
    A symlink to a regular file is followed; a symlink to nothing is refused.
    """
    try:
        read = read_bounded(path, max_bytes=MAX_DOTENV_BYTES, follow_symlinks=True)
    except UnsafeFileError as exc:
        where = printable(str(path))
        raise ConfigError(
            f"{where} {exc.problem}; a .env must be a regular UTF-8 text file of at most "
            f"{MAX_DOTENV_BYTES // 1024} KiB: fix or remove it"
        ) from None
    if read is None:
        return {}
    return parse_dotenv(path, _decode(path, read.data))
