"""``scripts/backup_restore.py`` run as an operator runs it: exit codes, output, files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.backup.builders import make_user_data, tree

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "backup_restore.py"


def _run(cwd: Path, *args: str, expect: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RISK_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == expect, f"stdout: {done.stdout}\nstderr: {done.stderr}"
    return done


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A populated user_data folder."""
    return make_user_data(tmp_path / "source")


def test_cli_when_backup_verify_restore_then_files_round_trip(source: Path, tmp_path: Path) -> None:
    """backup -> verify -> restore into a new user_data: exit 0 and the same files."""
    made = json.loads(
        _run(tmp_path, "backup", "--user-data", str(source), "--logs", "--json", expect=0).stdout
    )
    backup_dir = Path(made["backup_dir"])
    assert backup_dir.parent == source / "backups"
    assert made["components"] == [
        "registry", "trades", "backtests", "hyperopts", "logs", "state", "params",
    ]  # fmt: skip
    assert made["run_id"].startswith("run_")

    verified = _run(tmp_path, "verify", str(backup_dir), expect=0)
    assert f"Backup {backup_dir} is intact: {made['files']} files verified" in verified.stdout

    target = tmp_path / "target" / "user_data"
    target.mkdir(parents=True)
    restored = _run(tmp_path, "restore", str(backup_dir), "--user-data", str(target), expect=0)
    assert "Restored " in restored.stdout
    assert (target / "strategies" / "ma_crossover.json").read_bytes() == (
        source / "strategies" / "ma_crossover.json"
    ).read_bytes()
    assert (target / "logs" / "incidents" / "incident_1_2_x.log").read_text() == "Traceback\n"
    assert (target / "live" / "tradesv3.live.sqlite").is_file()


def test_cli_when_restore_over_existing_then_exit_6_and_unchanged(
    source: Path, tmp_path: Path
) -> None:
    """Restoring onto existing files without --overwrite exits 6 and changes nothing."""
    made = json.loads(
        _run(tmp_path, "backup", "--user-data", str(source), "--json", expect=0).stdout
    )
    before = tree(source, skip=("backups", "registry"))
    done = _run(tmp_path, "restore", made["backup_dir"], "--user-data", str(source), expect=6)
    # stderr: the restore_refused JSON log line, then the message for the operator.
    assert done.stderr.splitlines()[-1].startswith("Error: ")
    assert "already exist" in done.stderr
    assert "--overwrite" in done.stderr
    assert tree(source, skip=("backups", "registry")) == before


def test_cli_when_backup_corrupted_then_verify_and_restore_exit_6(
    source: Path, tmp_path: Path
) -> None:
    """A flipped byte is caught by verify and by restore, which writes nothing."""
    made = json.loads(
        _run(tmp_path, "backup", "--user-data", str(source), "--json", expect=0).stdout
    )
    archive = Path(made["backup_dir"]) / "hyperopt_results.zip"
    data = bytearray(archive.read_bytes())
    data[10] ^= 0x01
    archive.write_bytes(bytes(data))
    target = tmp_path / "target"
    target.mkdir()

    verify = _run(tmp_path, "verify", made["backup_dir"], expect=6)
    restore = _run(tmp_path, "restore", made["backup_dir"], "--user-data", str(target), expect=6)

    for done in (verify, restore):
        assert "hyperopt_results.zip: sha256 differs from the manifest (corrupted)" in done.stderr
    assert list(target.iterdir()) == []


def test_cli_when_overwrite_and_only_then_only_that_part_replaced(
    source: Path, tmp_path: Path
) -> None:
    """--overwrite with --only params puts back the parameter file and nothing else."""
    made = json.loads(
        _run(tmp_path, "backup", "--user-data", str(source), "--json", expect=0).stdout
    )
    (source / "strategies" / "ma_crossover.json").write_text("edited")
    (source / "state" / "circuit_breaker.json").write_text('{"active": true}')
    out = json.loads(
        _run(
            tmp_path, "restore", made["backup_dir"], "--user-data", str(source),
            "--only", "params", "--overwrite", "--json", expect=0,
        ).stdout
    )  # fmt: skip
    assert out["files"] == [str(source / "strategies" / "ma_crossover.json")]
    assert "edited" not in (source / "strategies" / "ma_crossover.json").read_text()
    assert (source / "state" / "circuit_breaker.json").read_text() == '{"active": true}'


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["restore", "{missing}"], 6, "does not exist"),
        (["restore", "{missing}", "--only", "everything"], 2, "invalid choice: 'everything'"),
        (["backup", "--user-data", "{missing}"], 6, "user_data folder"),
        ([], 2, "the following arguments are required: COMMAND"),
    ],
)
def test_cli_when_bad_input_then_exit_code_and_message(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    """Bad arguments exit 2 (argparse); refusals exit 6 with an Error line."""
    missing = str(tmp_path / "missing")
    done = _run(tmp_path, *(a.replace("{missing}", missing) for a in args), expect=code)
    assert message in done.stderr
    assert not (tmp_path / "missing").exists()
