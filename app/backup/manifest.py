"""``manifest.json``: what a backup holds, with the size and sha256 of every file.

A restore trusts nothing in a backup folder that the manifest does not describe, and
the manifest itself is checked field by field before anything else happens: a wrong
JSON type, an unknown component, a path that is not where this tool puts that
component's files, or a target that the component may not hold (see
:mod:`app.backup.names`) refuses the whole backup with a message naming the field.
The manifest never decides where a file goes: it can only name files the layout allows.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from app import __version__
from app.backup.layout import ARCHIVES, COMPONENTS, NOT_FOR_TRADES
from app.backup.names import check, show
from app.errors import BackupError

MANIFEST_NAME = "manifest.json"
FORMAT = "tradingbot-backup"
FORMAT_VERSION = 1
MAX_ENTRIES = 100_000
MAX_SIZE = 1 << 50  # 1 PiB: larger is a lie, not a file
KINDS = {"registry": "sqlite", "trades": "sqlite", "params": "file"} | dict.fromkeys(
    ARCHIVES, "zip"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """sha256 hex digest and size of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def versions() -> dict[str, str]:
    """Versions of everything that wrote the backup's files."""
    try:
        freqtrade = metadata.version("freqtrade")
    except metadata.PackageNotFoundError:
        freqtrade = "not installed"
    return {
        "tradingbot": __version__,
        "freqtrade": freqtrade,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def _field(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in raw:
        raise BackupError(f"{where} lacks {key!r}; the backup is damaged")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BackupError(f"{where} has {key} {show(value)}, of the wrong JSON type")
    return value


def canonical_path(component: str, target: str) -> str:
    """Where this tool puts a component's file inside the backup folder."""
    return ARCHIVES.get(component, f"{component}/{target}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of the backup."""

    path: str  # inside the backup folder
    component: str
    kind: str  # sqlite | zip | file
    target: str  # relative to the component's folder; "" for archives (members carry paths)
    size: int
    sha256: str
    integrity: str | None = None  # PRAGMA quick_check of a copied database

    @classmethod
    def parse(cls, raw: object, number: int) -> Entry:
        """Validate one manifest entry (``number`` counts from 1, for messages)."""
        where = f"manifest entry #{number}"
        if not isinstance(raw, dict):
            raise BackupError(f"{where} is {show(raw)}, not an object; the backup is damaged")
        component = _field(raw, "component", str, where)
        if component not in COMPONENTS:
            raise BackupError(f"{where} has unknown component {show(component)}")
        kind = _field(raw, "kind", str, where)
        if kind != KINDS[component]:
            raise BackupError(
                f"{where} ({component}) has kind {show(kind)}; expected {KINDS[component]!r}"
            )
        target = _field(raw, "target", str, where)
        if component in ARCHIVES:
            if target:
                raise BackupError(
                    f"{where} ({component}) has target {show(target)}; archives have none"
                )
        else:
            check(component, target, f"{where} target", NOT_FOR_TRADES)
        path = _field(raw, "path", str, where)
        if path != canonical_path(component, target):
            raise BackupError(
                f"{where} has path {show(path)}; {component} files are kept at "
                f"{canonical_path(component, target)!r} in a backup"
            )
        size = _field(raw, "size", int, where)
        if not 0 <= size <= MAX_SIZE:
            raise BackupError(f"{where} has size {show(size)}; a size is 0 to {MAX_SIZE} bytes")
        sha256 = _field(raw, "sha256", str, where)
        if not _SHA256.fullmatch(sha256):
            raise BackupError(
                f"{where} has sha256 {show(sha256)}; expected 64 lowercase hex digits"
            )
        integrity = raw.get("integrity")
        if integrity is not None and not isinstance(integrity, str):
            raise BackupError(f"{where} has integrity {show(integrity)}, of the wrong JSON type")
        return cls(path, component, kind, target, size, sha256, integrity)


def _strings(document: dict[str, Any], key: str, container: type, where: str) -> Any:
    value = document.get(key, container())
    items = value.items() if isinstance(value, dict) else value
    if not isinstance(value, container) or not all(
        isinstance(item, str) or (isinstance(item, tuple) and all(isinstance(i, str) for i in item))
        for item in items
    ):
        raise BackupError(
            f"{where} has {key} {show(value)}; expected a {container.__name__} of strings"
        )
    return value


@dataclass(frozen=True, slots=True)
class Manifest:
    """The whole manifest."""

    created_utc: str
    versions: dict[str, str]
    source: dict[str, str]
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)
    redacted: list[str] = field(default_factory=list)  # components whose text was redacted

    @property
    def components(self) -> list[str]:
        """Components present, in the canonical order."""
        present = {e.component for e in self.entries}
        return [c for c in COMPONENTS if c in present]

    def to_json(self) -> dict[str, Any]:
        """The document written to ``manifest.json``."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_utc": self.created_utc,
            "versions": self.versions,
            "source": self.source,
            "notes": self.notes,
            "redacted": self.redacted,
            "files": [asdict(e) for e in self.entries],
        }


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Validate the bytes of a manifest; BackupError naming the first fault."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise BackupError(f"{where} is not valid JSON ({reason}); the backup is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f"{where} is not a tradingbot backup manifest")
    version = document.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise BackupError(
            f"{where} has format_version {show(version)}; this tradingbot reads version "
            f"{FORMAT_VERSION}: restore with the version that made it"
        )
    created = document.get("created_utc")
    if not isinstance(created, str) or not _CREATED.fullmatch(created):
        raise BackupError(
            f"{where} has created_utc {show(created)}; expected an ISO time ending in Z"
        )
    files = document.get("files")
    if not isinstance(files, list):
        raise BackupError(
            f"{where} has no file list ('files' is {show(files)}); the backup is damaged"
        )
    if len(files) > MAX_ENTRIES:
        raise BackupError(f"{where} lists {len(files)} files; at most {MAX_ENTRIES} are accepted")
    entries = [Entry.parse(raw, n) for n, raw in enumerate(files, start=1)]
    seen: dict[str, Entry] = {}
    for entry in entries:
        key = entry.path.casefold()
        if key in seen:
            raise BackupError(
                f"{where} lists {entry.path!r} and {seen[key].path!r}: the same file twice "
                "(names differing only by case collide); the backup is not trusted"
            )
        seen[key] = entry
    if sum(e.component == "registry" for e in entries) > 1:
        raise BackupError(f"{where} lists more than one registry database")
    redacted = _strings(document, "redacted", list, where)
    return Manifest(
        created_utc=created,
        versions=_strings(document, "versions", dict, where),
        source=_strings(document, "source", dict, where),
        entries=entries,
        notes=_strings(document, "notes", list, where),
        redacted=[c for c in redacted if c in COMPONENTS],
    )
