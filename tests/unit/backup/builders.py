"""Builders for backup tests: a realistic user_data tree and helpers to compare trees."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.backup.layout import BackupPaths
from app.backup.manifest import sha256_file
from app.registry import Registry


def make_trade_db(path: Path, trades: int = 3) -> None:
    """A Freqtrade-like trade database (rollback journal, as Freqtrade leaves it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, pair TEXT, profit REAL)")
        conn.executemany(
            "INSERT INTO trades (pair, profit) VALUES (?, ?)",
            [(f"PAIR{n}/BTC", n / 100) for n in range(trades)],
        )
    conn.close()


def make_user_data(root: Path) -> Path:
    """user_data with every component the backup knows, plus things it must leave out."""
    user_data = root / "user_data"
    registry = Registry(f"sqlite:///{user_data / 'registry' / 'strategies_registry.sqlite'}")
    with registry:
        run_id = registry.start_run(kind="backtest", correlation_id="seed", strategy="S")
        registry.add_metrics(run_id, {"max_drawdown_account": 0.12})
        registry.finish_run(run_id, status="succeeded", exit_code=0)
    make_trade_db(user_data / "tradesv3.dryrun.sqlite")
    make_trade_db(user_data / "live" / "tradesv3.live.sqlite", trades=5)
    results = user_data / "backtest_results"
    results.mkdir(parents=True)
    with zipfile.ZipFile(results / "backtest-result-2026-01-01_00-00-00.zip", "w") as archive:
        archive.writestr("backtest-result-2026-01-01_00-00-00.json", '{"strategy": {}}')
    (results / "backtest-result-2026-01-01_00-00-00.meta.json").write_text('{"S": {}}')
    (results / ".last_result.json").write_text('{"latest_backtest": "x.zip"}')
    hyperopts = user_data / "hyperopt_results"
    hyperopts.mkdir()
    (hyperopts / "strategy_S_2026-01-01_00-00-00.fthypt").write_text('{"loss": 1}\n' * 50)
    logs = user_data / "logs"
    (logs / "incidents").mkdir(parents=True)
    (logs / "freqtrade.log").write_text("line\n" * 100)
    (logs / "incidents" / "incident_1_2_x.log").write_text("Traceback\n")
    state = user_data / "state"
    (state / "running").mkdir(parents=True)
    (state / "circuit_breaker.json").write_text('{"active": false}')
    (state / "running" / "backtest-1.lock").write_text("pid 1")
    strategies = user_data / "strategies"
    strategies.mkdir()
    (strategies / "ma_crossover.py").write_text("class MaCrossoverStrategy: ...\n")
    (strategies / "ma_crossover.json").write_text('{"strategy_name": "MaCrossoverStrategy"}')
    return user_data


def tree(root: Path, *, skip: tuple[str, ...] = ("backups",)) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative path -> bytes), except ``skip`` folders."""
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] not in skip
    }


def rows(database: Path, table: str) -> list[tuple[object, ...]]:
    """All rows of a table, ordered by its first column."""
    with sqlite3.connect(database) as conn:
        result = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    conn.close()
    return result


def paths_for(user_data: Path) -> BackupPaths:
    """Paths with every component under ``user_data`` (no settings involved)."""
    return BackupPaths(
        user_data=user_data,
        registry_url=f"sqlite:///{user_data / 'registry' / 'strategies_registry.sqlite'}",
        state_dir=user_data / "state",
    )


def reseal(backup_dir: Path) -> None:
    """Recompute the manifest's sizes and checksums, as an attacker crafting a backup would."""
    path = backup_dir / "manifest.json"
    document = json.loads(path.read_text())
    for entry in document["files"]:
        listed = backup_dir / str(entry["path"])
        if listed.is_file() and not listed.is_symlink() and listed.stat().st_size < 1 << 30:
            entry["sha256"], entry["size"] = sha256_file(listed)
    path.write_text(json.dumps(document))


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root`` -- folders, files (bytes), links (target) -- dotfiles too."""
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in [*dirs, *files]:
            path = base / name
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = ("link", str(path.readlink()))
            elif path.is_dir():
                found[key] = "folder"
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "special"
    return found


def edit_manifest(backup_dir: Path, change: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``change`` to the manifest document (checksums are left as they are)."""
    path = backup_dir / "manifest.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def add_file(backup_dir: Path, component: str, kind: str, target: str, content: bytes) -> None:
    """A crafted extra entry: the file at ``<component>/<target>`` and its manifest line."""
    relative = f"{component}/{target}"
    (backup_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    (backup_dir / relative).write_bytes(content)
    digest, size = sha256_file(backup_dir / relative)
    entry = {"path": relative, "component": component, "kind": kind, "target": target}
    edit_manifest(
        backup_dir, lambda d: d["files"].append({**entry, "size": size, "sha256": digest})
    )


def add_member(backup_dir: Path, archive: str, name: str, content: bytes, mode: int = 0) -> None:
    """A crafted extra member of one of the backup's archives (then resealed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(backup_dir / archive, "a") as handle:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            handle.writestr(info, content)
    reseal(backup_dir)


def every_byte(backup_dir: Path) -> bytes:
    """All a backup holds, readable: raw files, archive members (nested ones too), DB dumps."""

    def unpack(data: bytes) -> bytes:
        parts = [data]
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                parts += [unpack(archive.read(info)) for info in archive.infolist()]
        return b"\n".join(parts)

    chunks = []
    for path in sorted(backup_dir.rglob("*")):
        if path.is_file():
            chunks.append(unpack(path.read_bytes()))
            if path.suffix == ".sqlite":
                uri = f"{path.as_uri()}?mode=ro&immutable=1"
                with sqlite3.connect(uri, uri=True) as conn:
                    chunks.append("\n".join(conn.iterdump()).encode())
                conn.close()
    return b"\n".join(chunks)
