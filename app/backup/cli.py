"""Command line of ``scripts/backup_restore.py``: parse arguments, call the library.

Exit codes: 0 done; 6 refused or failed (nothing was changed; the message says why);
5 registry error; 2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.backup.layout import COMPONENTS, BackupPaths
from app.errors import TradingBotError

if TYPE_CHECKING:
    from app.backup.service import Recorded

DEFAULT_USER_DATA = Path("user_data")


def build_parser() -> argparse.ArgumentParser:
    """The ``backup`` / ``restore`` / ``verify`` parser."""
    parser = argparse.ArgumentParser(
        prog="backup_restore.py",
        description="Back up and restore the registry, trade databases, results, logs, state "
        "and parameter files. Exit codes: 0 ok, 6 refused/failed (nothing changed), "
        "5 registry error, 2 bad arguments or settings.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--user-data",
            type=Path,
            default=DEFAULT_USER_DATA,
            help="Freqtrade's user_data folder (default: user_data)",
        )
        sub.add_argument("--json", action="store_true", help="print one JSON document")

    sub = commands.add_parser("backup", help="make user_data/backups/backup_YYYYmmdd_HHMMSS/")
    sub.add_argument("--logs", action="store_true", help="also archive user_data/logs")
    sub.add_argument(
        "--out", type=Path, help="folder to create the backup in (default: user_data/backups)"
    )
    common(sub)

    sub = commands.add_parser("restore", help="verify a backup, then put its files back")
    sub.add_argument("backup_dir", type=Path, metavar="BACKUP_DIR")
    sub.add_argument(
        "--only",
        action="append",
        choices=COMPONENTS,
        metavar="PART",
        help=f"restore only this part (repeatable): {', '.join(COMPONENTS)}",
    )
    sub.add_argument("--overwrite", action="store_true", help="replace files that already exist")
    common(sub)

    sub = commands.add_parser("verify", help="check a backup's manifest and checksums")
    sub.add_argument("backup_dir", type=Path, metavar="BACKUP_DIR")
    common(sub)
    return parser


def _emit(args: argparse.Namespace, document: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{line}\n" for line in lines))


def _record_lines(recorded: Recorded) -> list[str]:
    """The registry's part of a backup's or restore's text output."""
    lines = [f"Warning: {w}" for w in recorded.warnings]
    if recorded.run_id:
        lines.append(f"Recorded as registry run {recorded.run_id}.")
    return lines


def _paths(args: argparse.Namespace) -> BackupPaths:
    from app.settings import get_settings

    return BackupPaths.resolve(args.user_data, get_settings())


def _backup(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from app.backup import service

    paths = _paths(args)
    result, recorded = service.backup(
        paths,
        out_dir=args.out,
        include_logs=args.logs,
        correlation_id=service.new_correlation_id(),
        command=["backup_restore.py", *argv],
    )
    manifest = result.manifest
    document = {
        "backup_dir": str(result.path),
        "components": manifest.components,
        "files": len(manifest.entries),
        "bytes": result.total_bytes,
        "notes": manifest.notes,
        "run_id": recorded.run_id,
        "warnings": recorded.warnings,
    }
    lines = [
        (
            f"Backup written to {result.path}: {len(manifest.entries)} files, "
            f"{result.total_bytes / 1e6:.1f} MB ({', '.join(manifest.components) or 'nothing'})."
        ),
        *(f"Note: {note}" for note in manifest.notes),
    ]
    _emit(args, document, [*lines, *_record_lines(recorded)])
    return 0


def _restore(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from app.backup import service

    result, recorded = service.restore(
        args.backup_dir,
        _paths(args),
        only=args.only,
        overwrite=args.overwrite,
        correlation_id=service.new_correlation_id(),
        command=["backup_restore.py", *argv],
    )
    document = {
        "backup_dir": str(args.backup_dir),
        "components": result.components,
        "files": [str(f) for f in result.files],
        "run_id": recorded.run_id,
        "warnings": recorded.warnings,
    }
    lines = [
        (
            f"Restored {len(result.files)} files ({', '.join(result.components)}) from "
            f"{args.backup_dir}."
        ),
    ]
    _emit(args, document, [*lines, *_record_lines(recorded)])
    return 0


def _verify(args: argparse.Namespace, _argv: Sequence[str]) -> int:
    from app.backup.restore import verify_backup

    manifest = verify_backup(args.backup_dir)
    document = {
        "backup_dir": str(args.backup_dir),
        "created_utc": manifest.created_utc,
        "components": manifest.components,
        "files": len(manifest.entries),
        "versions": manifest.versions,
    }
    lines = [
        (
            f"Backup {args.backup_dir} is intact: {len(manifest.entries)} files verified "
            f"({', '.join(manifest.components)}), made {manifest.created_utc}."
        )
    ]
    _emit(args, document, lines)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    handlers = {"backup": _backup, "restore": _restore, "verify": _verify}
    try:
        return handlers[args.command](args, arguments)
    except TradingBotError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130
