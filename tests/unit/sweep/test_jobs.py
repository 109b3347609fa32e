"""Job specs: no client path or secret leaves the client; the digest follows the inputs."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.sweep.jobs import (
    JobResult,
    JobSpec,
    blank_secrets,
    job_config,
    strip_path_options,
    worker_argv,
)


def spec(**changes: object) -> JobSpec:
    base = JobSpec(
        key="sweep_x/S/fold-1/hyperopt",
        command="hyperopt",
        args=("--strategy", "S", "--epochs", "3"),
        files={"config.json": "a" * 64, "data/ETH_BTC-5m.feather": "b" * 64},
        env={"RISK_MAX_POSITION_PCT": "0.2", "TRADINGBOT_RUN_ID": "run_1"},
        offline=True,
        freqtrade_version="2026.9",
        bundle="c" * 64,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_strip_path_options_when_argv_names_client_paths_then_they_are_gone() -> None:
    """Every path option goes with its value, in both spellings; the rest stays in order."""
    argv = ["-c", "/home/me/c.json", "--strategy", "S", "--datadir=/data", "--pairs", "A/B"]
    argv += ["--strategy-path", "/p", "--logfile", "x.log", "--backtest-directory", "r", "-j", "2"]

    assert strip_path_options(argv) == ["--strategy", "S", "--pairs", "A/B", "-j", "2"]


def test_strip_path_options_when_any_order_then_no_client_path_survives() -> None:
    """In every order of these arguments, a path option's value never reaches a worker."""
    words = ["--epochs", "3", "-c", "/secret/path", "--datadir=/d", "buy"]
    for argv in itertools.permutations(words):
        out = strip_path_options(list(argv))

        assert "-c" not in out and "--datadir=/d" not in out
        position = argv.index("-c")
        if position + 1 < len(argv):
            assert argv[position + 1] not in out


def test_job_config_when_secrets_and_paths_then_blanked_and_dropped() -> None:
    """Credentials keep their keys (Freqtrade's schema) but lose their values; paths go."""
    config = {
        "exchange": {"name": "binance", "key": "K3Y", "secret": "S3CRET", "pair_whitelist": []},
        "telegram": {"enabled": False, "token": "123:abc", "chat_id": "42"},
        "user_data_dir": "/home/me/user_data",
        "add_config_files": ["other.json"],
        "stake_amount": 0.05,
    }

    text = job_config(config).decode()
    data = json.loads(text)

    assert data["exchange"] == {"name": "binance", "key": "", "secret": "", "pair_whitelist": []}
    assert data["telegram"]["token"] == "" and data["telegram"]["chat_id"] == ""
    assert "user_data_dir" not in data and "add_config_files" not in data
    assert data["stake_amount"] == 0.05
    for secret in ("K3Y", "S3CRET", "123:abc", "/home/me"):
        assert secret not in text


def test_blank_secrets_when_nested_in_lists_then_blanked() -> None:
    """Secrets inside lists of objects are blanked too."""
    assert blank_secrets({"a": [{"password": "p", "x": 1}]}) == {"a": [{"password": "", "x": 1}]}


def test_worker_argv_when_built_then_every_path_is_in_the_job_folder(tmp_path: Path) -> None:
    """The worker's command line points only into its job folder."""
    argv = worker_argv(spec(command="backtesting", args=("--strategy", "S")), tmp_path)

    values = [argv[i + 1] for i, a in enumerate(argv) if a.startswith("-") and i + 1 < len(argv)]
    paths = [v for v in values if "/" in v]
    assert argv[0] == "backtesting"
    assert paths and all(Path(p).is_relative_to(tmp_path) for p in paths)
    assert argv[-2:] == ["--strategy", "S"]


def test_digest_when_only_ids_change_then_same_answer_expected() -> None:
    """Run ids and labels do not change what a job computes; inputs and settings do."""
    base = spec()

    assert spec(env={**base.env, "TRADINGBOT_RUN_ID": "run_2"}, label="x").digest() == (
        base.digest()
    )
    assert spec(env={"RISK_MAX_POSITION_PCT": "0.3"}).digest() != base.digest()
    assert spec(files={**base.files, "config.json": "d" * 64}).digest() != base.digest()
    assert spec(args=("--epochs", "4")).digest() != base.digest()


@pytest.mark.parametrize(
    ("log", "output", "error", "expected"),
    [("a\nb\n", "out", None, "b\n"), ("", "o1\no2\n", None, "o2\n"), ("", "", "boom", "boom")],
)
def test_log_tail_when_asked_then_from_log_else_output_else_error(
    log: str, output: str, error: str | None, expected: str
) -> None:
    """The incident excerpt comes from Freqtrade's log, its output, or the job's error."""
    result = JobResult("k", "a", "w", "h", 1, log=log, output=output, error=error)

    assert result.log_tail(1) == expected
