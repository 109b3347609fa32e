"""``--scheduler`` / ``--workers``: bad or unreachable clusters are refused before anything
is recorded, with the flag and the value named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.sweep.cluster import check_scheduler, check_workers
from tests.helpers import run_cli

SWEEP = ["sweep", "--strategies", "MaCrossoverStrategy", "--timerange", "20180110-20180130"]
SWEEP += ["--folds", "2", "--epochs", "3"]


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:0",
     "tcp://127.0.0.1:70000", "tcp://host name:8786", "", "tcp://:8786"],
)  # fmt: skip
def test_check_scheduler_when_not_a_scheduler_address_then_refused(address: str) -> None:
    """Anything but tcp:// or tls://HOST:PORT is refused, naming the flag and the value."""
    with pytest.raises(ConfigError, match=r"--scheduler .* is not a Dask scheduler address"):
        check_scheduler(address)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://10.0.0.5:1", "tcp://[::1]:9"])
def test_check_scheduler_when_valid_then_kept(address: str) -> None:
    """Host names, IPv4 and bracketed IPv6 with a port in range pass."""
    assert check_scheduler(address) == address


@pytest.mark.parametrize("count", [0, -1, 257])
def test_check_workers_when_out_of_range_then_refused(count: int) -> None:
    """--workers takes 1 .. 256 local worker processes."""
    with pytest.raises(ConfigError, match=f"--workers {count} is not valid"):
        check_workers(count)


def _candles(project: Path) -> Path:
    candles = project / "candles"
    candles.mkdir()
    (candles / "ETH_BTC-5m.feather").write_bytes(b"")
    return candles


def _nothing_written(project: Path) -> None:
    for folder in ("registry", "hyperopt_results", "backtest_results", "logs"):
        assert not (project / "user_data" / folder).exists(), folder


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scheduler", "localhost:8786"], "--scheduler 'localhost:8786' is not a Dask"),
        (["--workers", "0"], "--workers 0 is not valid"),
    ],
)
def test_sweep_when_cluster_flag_invalid_then_exit_2_and_nothing_written(
    project: Path, flags: list[str], message: str
) -> None:
    """A malformed --scheduler or --workers stops the sweep before it records anything."""
    result = run_cli([*SWEEP, "--datadir", str(_candles(project)), *flags], project)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: ") and message in result.stderr
    _nothing_written(project)


def test_sweep_when_scheduler_unreachable_then_exit_2_and_nothing_written(project: Path) -> None:
    """Nobody listens at the address: a clear error after the connect timeout, no records."""
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"

    result = run_cli([*SWEEP, "--datadir", str(_candles(project)), "--scheduler", address], project)

    assert result.returncode == 2, result.stderr
    assert f"Error: --scheduler {address}: no Dask scheduler answered" in result.stderr
    _nothing_written(project)


def test_sweep_when_both_scheduler_and_workers_then_usage_error(project: Path) -> None:
    """The two ways of getting a cluster exclude each other."""
    result = run_cli([*SWEEP, "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], project)

    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr
