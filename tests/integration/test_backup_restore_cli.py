"""``scripts/backup_restore.py`` run as an operator runs it: exit codes, output, files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.backup.cli import main
from app.backup.create import create_backup
from app.registry import Registry
from tests.unit.backup.builders import (
    add_file,
    every_byte,
    make_user_data,
    paths_for,
    snapshot,
    tree,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "backup_restore.py"


def _run(
    cwd: Path, *args: str, expect: int, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RISK_")} | (env or {})
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
    assert "Traceback" not in done.stderr
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


# -- SECRETS ----------------------------------------------------------------------------------

ENV_SECRET = "EnvExchangeSecret0123456789"
CONFIG_SECRET = "ConfigApiPassword9876543210"
JWT_SECRET = "JwtSigningKeyThatFreqtradeKeeps42"
CONTEXT_SECRET = "OnlyKnownByItsContext777"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRETS = (ENV_SECRET, CONFIG_SECRET, JWT_SECRET, CONTEXT_SECRET, BOT_TOKEN)


def _plant_secrets(user_data: Path) -> None:
    """Every place a secret can sit before redaction existed, or written by other tools."""
    config = {"api_server": {"password": CONFIG_SECRET, "jwt_secret_key": JWT_SECRET}}
    (user_data / "configs").mkdir()
    (user_data / "configs" / "config.live.json").write_text(json.dumps(config))
    logs = user_data / "logs"
    (logs / "freqtrade").mkdir(parents=True)
    (logs / "freqtrade" / "20260101T000000_abc.log").write_text(
        f"ERROR config rejected: {{'exchange': {{'secret': '{ENV_SECRET}'}}, "
        f"'api_server': {{'password': '{CONFIG_SECRET}'}}}}\n"
        f"curl -d password={CONTEXT_SECRET} https://api.telegram.org/bot{BOT_TOKEN}/send\n"
    )
    (logs / "risk.jsonl").write_text(json.dumps({"message": "x", "detail": ENV_SECRET}) + "\n")
    (logs / "incidents" / "incident_9_9_y.log").write_text(f"excerpt {CONFIG_SECRET}\n")
    with zipfile.ZipFile(user_data / "backtest_results" / "backtest-result-s.zip", "w") as zf:
        zf.writestr("backtest-result-s_config.json", json.dumps(config))
    (user_data / "state" / "circuit_breaker.json").write_text(
        json.dumps({"active": True, "reason": f"leaked {ENV_SECRET}"})
    )
    registry = paths_for(user_data).registry_url
    with Registry(registry) as store:
        run_id = store.start_run(
            kind="other", correlation_id="c", command=["trade", f"--password={CONFIG_SECRET}"]
        )
        store.log_incident(
            severity="error", description=f"Freqtrade printed {ENV_SECRET}", correlation_id="c",
            run_id=run_id,
        )  # fmt: skip


def test_cli_when_backup_with_logs_then_no_secret_in_any_byte(source: Path, tmp_path: Path) -> None:
    """Secrets in env, config, logs, incidents, results, state and registry: none backed up."""
    _plant_secrets(source)
    planted = b"".join(p.read_bytes() for p in source.rglob("*") if p.is_file())
    assert all(s.encode() in planted for s in SECRETS)  # the test can fail

    made = json.loads(
        _run(
            tmp_path, "backup", "--user-data", str(source), "--logs", "--json", expect=0,
            env={"FREQTRADE__EXCHANGE__SECRET": ENV_SECRET},
        ).stdout
    )  # fmt: skip

    backup_dir = Path(made["backup_dir"])
    content = every_byte(backup_dir)
    assert [s for s in SECRETS if s.encode() in content] == []
    assert b"[REDACTED]" in content
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert "logs" in manifest["redacted"]
    assert any(n.startswith("secrets masked as [REDACTED]") for n in manifest["notes"])
    _run(tmp_path, "verify", str(backup_dir), expect=0)


# -- CRAFTED BACKUPS --------------------------------------------------------------------------


def _nest(backup_dir: Path) -> None:
    (backup_dir / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)


def _fifo(backup_dir: Path) -> None:
    (backup_dir / "manifest.json").unlink()
    os.mkfifo(backup_dir / "manifest.json")


def _code(backup_dir: Path) -> None:
    add_file(backup_dir, "params", "file", "Evil.py", b"import os\n")


CRAFTS = {"nested": _nest, "fifo": _fifo, "code": _code}
MESSAGES = {
    "nested": "is not valid JSON (nested too deeply)",
    "fifo": "not a regular file but a special file",
    "code": "'Evil.py' is not one of the params part's files",
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One backup of a populated user_data, made once for the crafted cases."""
    root = tmp_path_factory.mktemp("made")
    user_data = make_user_data(root / "source")
    return create_backup(paths_for(user_data), out_dir=root / "backups").path


def _crafted(made: Path, tmp_path: Path, craft: str) -> tuple[Path, Path]:
    backup_dir = tmp_path / made.name
    shutil.copytree(made, backup_dir)
    CRAFTS[craft](backup_dir)
    target = tmp_path / "target"
    target.mkdir()
    return backup_dir, target


@pytest.mark.parametrize("craft", sorted(CRAFTS))
def test_cli_when_backup_crafted_then_exit_6_and_nothing_changes(
    made: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], craft: str
) -> None:
    """verify and restore of a crafted backup: exit 6, an Error line naming the fault."""
    backup_dir, target = _crafted(made, tmp_path, craft)
    before = snapshot(tmp_path)
    for args in (["verify"], ["restore", "--user-data", str(target)]):
        assert main([args[0], str(backup_dir), *args[1:]]) == 6
        err = capsys.readouterr().err
        # The last line is the operator's message; a JSON log line (restore_refused) may
        # come before it.
        assert err.splitlines()[-1].startswith("Error: ")
        assert MESSAGES[craft] in err.splitlines()[-1]
    assert snapshot(tmp_path) == before


def test_cli_when_manifest_is_a_fifo_then_process_exits_6_at_once(
    made: Path, tmp_path: Path
) -> None:
    """As a real process: a FIFO as manifest.json neither hangs nor gives a traceback."""
    backup_dir, target = _crafted(made, tmp_path, "fifo")
    before = snapshot(tmp_path)
    # The CLI's own log (user_data/logs/risk.jsonl under its working folder) goes elsewhere.
    cwd = tmp_path.parent / f"{tmp_path.name}-cwd"
    cwd.mkdir()
    done = _run(cwd, "restore", str(backup_dir), "--user-data", str(target), expect=6)
    assert MESSAGES["fifo"] in done.stderr
    assert snapshot(tmp_path) == before
