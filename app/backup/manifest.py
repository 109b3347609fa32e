"""``manifest.json``: what a backup holds, with the size and sha256 of every file.

A restore trusts nothing in a backup folder that the manifest does not describe, and
checks every described file against its size and sha256 before touching anything.
Paths in the manifest are relative POSIX paths; anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sqlite3
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from app import __version__
from app.backup.layout import COMPONENTS
from app.errors import BackupError

MANIFEST_NAME = "manifest.json"
FORMAT = "tradingbot-backup"
FORMAT_VERSION = 1
KINDS = ("sqlite", "zip", "file")
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


def safe_relative(text: object, what: str) -> PurePosixPath:
    """A relative path without ``..``, drive letters, backslashes or NUL; else BackupError."""
    if not isinstance(text, str) or not text or "\\" in text or "\x00" in text:
        raise BackupError(f"{what} {text!r} is not a relative path; the backup is not trusted")
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0] or text.startswith("/"):
        raise BackupError(f"{what} {text!r} escapes its folder; the backup is not trusted")
    return path


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


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of the backup."""

    path: str  # inside the backup folder
    component: str
    kind: str  # sqlite | zip | file
    target: str  # relative to the component's root; "" for archives (members carry paths)
    size: int
    sha256: str
    integrity: str | None = None  # PRAGMA quick_check of a copied database

    @classmethod
    def parse(cls, raw: object) -> Entry:
        """Validate one manifest entry."""
        if not isinstance(raw, dict):
            raise BackupError(f"manifest entry {raw!r} is not an object; the backup is damaged")
        try:
            entry = cls(
                path=str(safe_relative(raw["path"], "manifest path")),
                component=raw["component"],
                kind=raw["kind"],
                target=raw["target"],
                size=raw["size"],
                sha256=raw["sha256"],
                integrity=raw.get("integrity"),
            )
        except KeyError as exc:
            raise BackupError(
                f"manifest entry {raw!r} lacks {exc}; the backup is damaged"
            ) from None
        if entry.component not in COMPONENTS or entry.kind not in KINDS:
            raise BackupError(f"manifest entry {raw!r} has an unknown component or kind")
        if entry.kind != "zip":
            safe_relative(entry.target, "manifest target")
        if not isinstance(entry.size, int) or not isinstance(entry.sha256, str):
            raise BackupError(f"manifest entry {raw!r} has a bad size or sha256")
        return entry


@dataclass(frozen=True, slots=True)
class Manifest:
    """The whole manifest."""

    created_utc: str
    versions: dict[str, str]
    source: dict[str, str]
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)

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
            "files": [asdict(e) for e in self.entries],
        }


def load_manifest(backup_dir: Path) -> Manifest:
    """Read and validate ``<backup_dir>/manifest.json``."""
    path = backup_dir / MANIFEST_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            f"{str(backup_dir)!r} has no {MANIFEST_NAME}: not a backup, or an incomplete one"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"{str(path)!r} is unreadable ({exc}); the backup is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f"{str(path)!r} is not a tradingbot backup manifest")
    if document.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{str(path)!r} has format_version {document.get('format_version')!r}; this "
            f"tradingbot reads version {FORMAT_VERSION}: restore with the version that made it"
        )
    files = document.get("files")
    if not isinstance(files, list):
        raise BackupError(f"{str(path)!r} has no file list; the backup is damaged")
    entries = [Entry.parse(raw) for raw in files]
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen or entry.path == MANIFEST_NAME:
            raise BackupError(f"manifest lists {entry.path!r} twice or as itself")
        seen.add(entry.path)
    return Manifest(
        created_utc=str(document.get("created_utc")),
        versions=dict(document.get("versions") or {}),
        source=dict(document.get("source") or {}),
        entries=entries,
        notes=list(document.get("notes") or []),
    )


def verify_files(backup_dir: Path, manifest: Manifest) -> list[str]:
    """Problems (missing, wrong size, wrong sha256, symlink) of every listed file."""
    problems = []
    for entry in manifest.entries:
        path = backup_dir / entry.path
        if path.is_symlink() or (path.exists() and not path.is_file()):
            problems.append(f"{entry.path}: not a regular file")
            continue
        if not path.exists():
            problems.append(f"{entry.path}: missing")
            continue
        size = path.stat().st_size
        if size != entry.size:
            problems.append(f"{entry.path}: {size} bytes, manifest says {entry.size} (truncated?)")
            continue
        digest, _ = sha256_file(path)
        if digest != entry.sha256:
            problems.append(f"{entry.path}: sha256 differs from the manifest (corrupted)")
    return problems
