"""Keep secrets out of backups: everything archived or copied passes through a Scrubber.

Logs and results written before redaction existed, or by tools outside the runner, may
hold credentials (Freqtrade prints a rejected config with its passwords; its backtest
result zip stores the config with only some keys masked -- ``jwt_secret_key`` and
``ws_token`` stay). A :class:`Scrubber` wraps the bundle's :class:`~app.redaction.Redactor`
(values of the backing-up process's secret environment variables and ``.env``, the
secret keys of every config under ``user_data/configs/`` and of the configs the registry's
runs used, plus secrets recognised by context) and applies it as follows:

* text files (logs, state, result ``.json``/``.fthypt``, parameter files) and the text
  members of Freqtrade's result zips: masked; a zip is rewritten only when something
  was masked, so a clean result keeps its bytes;
* JSON stays JSON: where masking a value inside a number would break a document, the
  document is masked string by string instead;
* database copies: every text cell outside key columns; the registry with the context
  rules too, trade databases by known values only (their order ids and tags are data a
  context rule must not touch). ``secure_delete`` and ``VACUUM`` then drop every freed
  page, which would still hold deleted rows and the old values;
* binary data (``.feather`` frames inside results) is copied as it is: Freqtrade writes
  market and wallet numbers there, never configuration.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import rapidjson
from dotenv import dotenv_values

from app.redaction import MASK, Redactor, config_secret_values

_JSON_DOCUMENT = (".json",)
_JSON_LINES = (".jsonl", ".fthypt")
_BINARY = (".feather", ".parquet", ".pkl")
_TEXT_MEMBERS = (".json", ".py", ".log", ".txt", ".jsonl")
MAX_JSON_DOCUMENT = 256 << 20
MAX_NESTED_ZIP = 1 << 30
MAX_CONFIG = 16 << 20
_PARSE_MODE = rapidjson.PM_COMMENTS | rapidjson.PM_TRAILING_COMMAS


def _masked_leaves(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked_leaves(item, redact) for item in value]
    if isinstance(value, dict):
        return {
            key: MASK if config_secret_values({key: item}) else _masked_leaves(item, redact)
            for key, item in value.items()
        }
    return value


def redact_json(text: str, redact: Callable[[str], str]) -> str:
    """``text`` masked; if it was JSON and masking broke it, masked string by string."""
    masked = redact(text)
    if masked == text:
        return text
    if _is_json(masked):
        return masked
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return masked  # not JSON to begin with
    return json.dumps(_masked_leaves(document, redact))


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _read_config(path: Path) -> Any:
    with path.open("rb") as handle:
        data = handle.read(MAX_CONFIG + 1)
    if len(data) > MAX_CONFIG:
        raise ValueError(f"larger than {MAX_CONFIG} bytes")
    return rapidjson.loads(data.decode("utf-8"), parse_mode=_PARSE_MODE)


@dataclass
class Scrubber:
    """Masks secrets in what a backup copies; counts what it changed per component."""

    redactor: Redactor
    notes: list[str] = field(default_factory=list)
    changed: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_sources(
        cls, environ: Mapping[str, str], dotenv: Path | None, configs: Iterable[Path]
    ) -> Scrubber:
        """Secrets of the environment, of ``dotenv`` and of every readable config file."""
        notes: list[str] = []
        variables = dict(environ)
        if dotenv is not None and dotenv.is_file():
            try:
                from_file = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
                variables = {**from_file, **variables}
            except (OSError, ValueError) as exc:
                notes.append(f"{dotenv} could not be read for secrets ({exc})")
        documents = []
        for path in configs:
            try:
                documents.append(_read_config(path))
            except (OSError, ValueError, OverflowError, RecursionError) as exc:
                notes.append(
                    f"config {path} could not be read for secrets ({str(exc)[:120]}); values "
                    "only it holds are masked by context alone"
                )
        return cls(Redactor.from_sources(variables, documents), notes)

    # -- TEXT ------------------------------------------------------------------------------

    def redact_text(self, text: str, name: str) -> str:
        """One text (a whole file, or a line of a JSON-lines file) of a file called ``name``."""
        if name.endswith(_JSON_DOCUMENT + _JSON_LINES):
            return redact_json(text, self.redactor.redact)
        return self.redactor.redact(text)

    def _stream(self, source: IO[bytes], sink: IO[bytes], name: str) -> bool:
        changed = False
        by_line = name.endswith(_JSON_LINES)
        while lines := source.readlines(1 if by_line else 1 << 20):
            block = b"".join(lines).decode("utf-8", "surrogateescape")
            masked = self.redact_text(block, name)
            changed |= masked != block
            sink.write(masked.encode("utf-8", "surrogateescape"))
        return changed

    def archive_file(
        self, component: str, source: IO[bytes], archive: zipfile.ZipFile, info: zipfile.ZipInfo
    ) -> str | None:
        """Write one open file into ``archive``, masked; a note when it had to be left out."""
        name = info.filename
        if name.endswith(".zip"):
            data = source.read(MAX_NESTED_ZIP + 1)
            rewritten = self.nested_zip(data) if len(data) <= MAX_NESTED_ZIP else None
            if rewritten is None:
                return (
                    f"{component}: left out {name}: not a readable zip of at most 1 GiB, so it "
                    "cannot be checked for secrets"
                )
            self.changed[component] += rewritten != data
            archive.writestr(info, rewritten)
            return None
        with archive.open(info, "w", force_zip64=info.file_size > (1 << 30)) as sink:
            if name.endswith(_BINARY):
                shutil.copyfileobj(source, sink, 1 << 20)
            elif name.endswith(_JSON_DOCUMENT) and info.file_size <= MAX_JSON_DOCUMENT:
                text = source.read().decode("utf-8", "surrogateescape")
                masked = self.redact_text(text, name)
                sink.write(masked.encode("utf-8", "surrogateescape"))
                self.changed[component] += masked != text
            else:
                self.changed[component] += self._stream(source, sink, name)
        return None

    def nested_zip(self, data: bytes) -> bytes | None:
        """A result zip with its text members masked (the same bytes when nothing was)."""
        members: list[tuple[zipfile.ZipInfo, bytes]] = []
        changed = False
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    content = archive.read(info)
                    if info.filename.endswith(_TEXT_MEMBERS):
                        text = content.decode("utf-8", "surrogateescape")
                        masked = self.redact_text(text, info.filename)
                        if masked != text:
                            changed = True
                            content = masked.encode("utf-8", "surrogateescape")
                    members.append((info, content))
        except (
            OSError,
            zipfile.BadZipFile,
            ValueError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ):
            return None
        if not changed:
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for info, content in members:
                archive.writestr(info, content, compress_type=info.compress_type)
        return out.getvalue()

    # -- DATABASES -------------------------------------------------------------------------

    def database(self, path: Path, component: str, *, by_context: bool) -> int:
        """Mask every text cell outside key columns of the copy at ``path``; count them.

        ``VACUUM`` runs whenever something changed, and always for the registry
        (``by_context``), so that no freed page keeps an old value.
        """
        redact = self.redactor.redact if by_context else self.redactor.redact_values
        if not by_context and not self.redactor.values:
            return 0
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.create_function(
                "tb_mask",
                1,
                lambda v: redact_json(v, redact) if isinstance(v, str) else v,
                deterministic=True,
            )
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("BEGIN IMMEDIATE")
            masked = 0
            for table, col in _text_columns(conn):
                table_q, col_q = _quote(table), _quote(col)  # identifiers from the schema
                sql = (
                    f"UPDATE {table_q} SET {col_q} = tb_mask({col_q}) "  # noqa: S608
                    f"WHERE typeof({col_q}) = 'text' AND tb_mask({col_q}) IS NOT {col_q}"
                )
                masked += conn.execute(sql).rowcount
            conn.execute("COMMIT")
            if masked or by_context:
                conn.execute("VACUUM")
        finally:
            conn.close()
        self.changed[component] += masked
        return masked


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _text_columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(table, column) of every column that is not part of a key or a unique index."""
    tables = [
        name
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_") and not str(sql).upper().startswith("CREATE VIRTUAL")
    ]
    found: list[tuple[str, str]] = []
    for table in tables:
        quoted = _quote(table)
        keys = {row[3] for row in conn.execute(f"PRAGMA foreign_key_list({quoted})")}
        for index in conn.execute(f"PRAGMA index_list({quoted})").fetchall():
            if index[2]:  # unique (primary keys included)
                keys |= {row[2] for row in conn.execute(f"PRAGMA index_info({_quote(index[1])})")}
        columns = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
        # column[5] == 0: not part of the primary key
        found += [(table, str(c[1])) for c in columns if c[5] == 0 and c[1] not in keys]
    return found


def config_files(user_data: Path, registry: Path | None) -> list[Path]:
    """Configs under ``user_data/configs``, ``user_data/config*.json``, and those runs used."""
    found = (
        sorted((user_data / "configs").rglob("*.json")) if (user_data / "configs").is_dir() else []
    )
    found += sorted(user_data.glob("config*.json"))
    if registry is not None and registry.is_file():
        try:
            uri = f"{registry.resolve().as_uri()}?mode=ro"
            with sqlite3.connect(uri, uri=True) as conn:
                rows = conn.execute(
                    "SELECT DISTINCT config_path FROM runs WHERE config_path IS NOT NULL"
                ).fetchall()
            conn.close()
        except sqlite3.Error:
            rows = []
        for (recorded,) in rows:
            found += [Path(p) for p in str(recorded).split(",") if p and Path(p).is_file()]
    unique: dict[str, Path] = {}
    for path in found:
        if path.is_file():
            unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())
