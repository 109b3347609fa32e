"""Strict operator input (app/config_input.py): .env files and plain decimal numbers.

Each class of bad input is tried with several members, in real files; the error must
name the file, the line (or byte offset) and the fix, and never be a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config_input import MAX_DOTENV_BYTES, plain_decimal, plain_int, read_dotenv
from app.errors import ConfigError
from app.settings import load_settings

NON_ASCII = ["\u0661\u0662", "\uff15"]  # Arabic-Indic 12, fullwidth 5


@pytest.mark.parametrize("text", ["0", "7", "-3", "007", "123456789012345678901234567890"])
def test_plain_int_when_ascii_digits_then_parsed(text: str) -> None:
    """Digits with an optional leading minus are whole numbers."""
    assert plain_int(text) == int(text)


@pytest.mark.parametrize(
    "text",
    ["1_000", " 5", "5 ", "+5", "1e3", "0x10", "5.0", "", "-", "inf", "1" * 41, *NON_ASCII],
)
def test_plain_int_when_anything_else_then_value_error(text: str) -> None:
    """Underscores, spaces, signs, exponents, hex, non-ASCII digits: all refused."""
    with pytest.raises(ValueError, match="ASCII digits 0-9 only"):
        plain_int(text)


@pytest.mark.parametrize(("text", "value"), [("0.25", 0.25), (".5", 0.5), ("5.", 5.0), ("-1", -1)])
def test_plain_decimal_when_plain_then_parsed(text: str, value: float) -> None:
    """Plain decimals, with or without digits on one side of the point."""
    assert plain_decimal(text) == value


@pytest.mark.parametrize(
    "text",
    ["1_0.5", "1e-1", "nan", "inf", "-Infinity", " 0.1", "+0.1", "0.1.2", ".", "\u0660.\u0665"],
)
def test_plain_decimal_when_anything_else_then_value_error(text: str) -> None:
    """Exponents, inf/nan, spaces, '+', two points and non-ASCII digits are refused."""
    with pytest.raises(ValueError, match=r"at most one '\.'"):
        plain_decimal(text)


def test_read_dotenv_when_clean_then_values_with_quotes_comments_and_export(
    tmp_path: Path,
) -> None:
    """What python-dotenv reads well still reads the same (quotes, comments, export, BOM)."""
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(
        b"\xef\xbb\xbf# comment\n\nA=1\nexport B='two words'\nC=\"x # y\" # note\nD=\nE=${A}b\n"
    )
    assert read_dotenv(dotenv) == {"A": "1", "B": "two words", "C": "x # y", "D": "", "E": "1b"}


def test_read_dotenv_when_no_file_then_empty(tmp_path: Path) -> None:
    """.env is optional."""
    assert read_dotenv(tmp_path / ".env") == {}


LINES = {
    "name-without-equals": (b"A=1\n\n\nRISK_LOSS_STREAK_MAX\n", 4, "has no '='"),
    "name-without-equals-crlf": (b"A=1\r\n\r\nB\r\n", 3, "has no '='"),
    "export-only": (b"export RISK_X\n", 1, "has no '='"),
    "unterminated-quote": (b'# x\nA="abc\nB=2\n', 2, "cannot parse"),
    "space-in-name": (b"A=1\nRISK MAX=2\n", 2, "cannot parse"),
    "no-name": (b"=5\n", 1, "cannot parse"),
    "junk-after-quote": (b"A='x' y\n", 1, "cannot parse"),
    "repeated-name": (b"RISK_A=1\nB=2\nRISK_A=3\n", 3, "is set again (first on line 1)"),
}


@pytest.mark.parametrize("kind", list(LINES))
def test_read_dotenv_when_line_malformed_then_file_line_and_fix(tmp_path: Path, kind: str) -> None:
    """A line python-dotenv would skip or misread stops with the file, line and fix."""
    data, line, problem = LINES[kind]
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(data)
    with pytest.raises(ConfigError) as error:
        read_dotenv(dotenv)
    message = str(error.value)
    assert error.value.exit_code == 2
    assert f"{dotenv}, line {line}: " in message
    assert problem in message
    assert ("write " in message) or ("keep one" in message)


@pytest.mark.parametrize(
    ("data", "offset", "line"),
    [(b"A=caf\xe9\n", 5, 1), (b"A=1\nB=\xff\xfe\n", 6, 2), (b"\x80", 0, 1)],
)
def test_read_dotenv_when_not_utf8_then_byte_offset_named(
    tmp_path: Path, data: bytes, offset: int, line: int
) -> None:
    """Latin-1 or binary bytes: exit 2 naming the file, the byte offset and its line."""
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(data)
    with pytest.raises(ConfigError, match=f"at byte offset {offset} \\(line {line}\\)"):
        read_dotenv(dotenv)


def _big(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(MAX_DOTENV_BYTES + 1)


SHAPES: dict[str, tuple[Callable[[Path], object], str]] = {
    "fifo": (os.mkfifo, "is a named pipe (FIFO)"),
    "folder": (Path.mkdir, "is a folder"),
    "device": (lambda p: p.symlink_to("/dev/zero"), "is a character device"),
    "dangling-link": (lambda p: p.symlink_to("nowhere"), "which does not exist"),
    "huge": (_big, f"more than the {MAX_DOTENV_BYTES} allowed"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(SHAPES))
def test_load_settings_when_dotenv_not_a_small_file_then_config_error_at_once(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO does not hang, a device does not fill memory, a folder is not ignored."""
    make, problem = SHAPES[kind]
    dotenv = tmp_path / ".env"
    make(dotenv)
    with pytest.raises(ConfigError) as error:
        load_settings({}, dotenv_path=dotenv)
    assert problem in str(error.value)
    assert str(dotenv) in str(error.value)


def test_read_dotenv_when_symlink_to_regular_file_then_followed(tmp_path: Path) -> None:
    """A .env linked to a shared file is fine (unlike the breaker file)."""
    (tmp_path / "shared.env").write_text("RISK_LOSS_STREAK_MAX=4\n")
    (tmp_path / ".env").symlink_to(tmp_path / "shared.env")
    assert load_settings({}, dotenv_path=tmp_path / ".env").loss_streak_max == 4


def test_load_settings_when_dotenv_bare_risk_name_then_refused_not_ignored(tmp_path: Path) -> None:
    """The issue's case: `RISK_DAILY_LOSS_CAP_PCT` without '=' used to turn the cap off."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("RISK_MAX_POSITION_PCT=0.1\nRISK_DAILY_LOSS_CAP_PCT\n")
    with pytest.raises(ConfigError, match=r"line 2: 'RISK_DAILY_LOSS_CAP_PCT' has no '='"):
        load_settings({}, dotenv_path=dotenv)


def test_env_example_when_copied_to_dotenv_then_read_cleanly(tmp_path: Path) -> None:
    """The shipped .env.example passes the strict reader, as operators copy it to .env."""
    example = Path(__file__).resolve().parents[2] / ".env.example"
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(example.read_bytes())
    values = read_dotenv(dotenv)
    assert values["RISK_STATE_DIR"] == "user_data/state"
    assert load_settings({}, dotenv_path=dotenv).concurrency_ttl_sec == 900
