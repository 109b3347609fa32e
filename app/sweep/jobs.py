"""A sweep job: one Freqtrade command as a pure function of its inputs.

A :class:`JobSpec` names every input by content: the files a job needs (the merged config
with its secrets blanked, the strategy and its parameter file, the hyperopt loss, the
candle files of its pairs) as ``relative path -> sha256``, plus the Freqtrade arguments
without any path and the environment the guard reads. Nothing in it refers to the
client's disk, so it can run twice, anywhere, and give the same answer: the worker lays
the files out in a folder of its own (:mod:`app.sweep.worker`) and adds its own paths
(:func:`worker_argv`).

The bytes travel separately (:class:`Blobs`): a worker asks only for the hashes its cache
lacks. A :class:`JobResult` carries back the result files, the logs, the exit code and
where and how long it ran. This module is imported on clients and workers alike; it
imports neither Freqtrade nor Dask.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.runner.ftconfig import SECRET_KEYS

# Folders inside a job's folder (relative paths in JobSpec.files start with these).
CONFIG_FILE = "config.json"
DATA_DIR = "data"
STRATEGY_DIR = "strategies"
USER_DATA = "user_data"
LOG_FILE = "freqtrade.log"
# Freqtrade options whose value is a path on the client; a job replaces every one.
PATH_OPTIONS = frozenset(
    {
        "-c", "--config", "-d", "--datadir", "--data-dir", "--userdir", "--user-data-dir",
        "--strategy-path", "--logfile", "--log-file", "--backtest-directory",
        "--export-directory", "--hyperopt-path",
    }
)  # fmt: skip
# Config keys that hold client paths (or merged file lists): a job's config drops them.
PATH_KEYS = frozenset(
    {
        "add_config_files", "user_data_dir", "datadir", "strategy_path", "logfile", "db_url",
        "exportfilename", "exportdirectory", "backtest_directory", "hyperopt_path",
        "recursive_strategy_search",
    }
)  # fmt: skip


def sha256_bytes(data: bytes) -> str:
    """The content hash that names a blob."""
    return hashlib.sha256(data).hexdigest()


@functools.cache
def bundle_digest() -> str:
    """sha256 over this installation's ``app`` sources: the guard and strategy base that
    decide a job's answer. Client and worker must agree on it."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def blank_secrets(value: Any) -> Any:
    """A copy of a config with every credential's value blanked (keys kept).

    Keys stay because Freqtrade's schema requires some of them (``telegram.token``);
    a value never leaves the client.
    """
    if isinstance(value, Mapping):
        return {
            k: ("" if str(k).lower() in SECRET_KEYS and not isinstance(v, Mapping | list) else
                blank_secrets(v))
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [blank_secrets(v) for v in value]
    return value


def job_config(data: Mapping[str, Any]) -> bytes:
    """The config file a job runs with: merged, without secrets or client paths."""
    clean = {k: v for k, v in blank_secrets(data).items() if k not in PATH_KEYS}
    return (json.dumps(clean, sort_keys=True, indent=1, default=str) + "\n").encode()


def strip_path_options(argv: Sequence[str]) -> list[str]:
    """``argv`` without the options that name client paths (and their values)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in PATH_OPTIONS:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


@dataclass(frozen=True)
class JobSpec:
    """Everything one job needs, by value or by content hash (see the module docstring)."""

    key: str  # unique per sweep and job, e.g. "<sweep id>/<strategy>/fold-1/hyperopt"
    command: str  # "hyperopt" | "backtesting"
    args: tuple[str, ...]  # Freqtrade's arguments after the command, without paths
    files: Mapping[str, str]  # relative path in the job folder -> sha256
    env: Mapping[str, str]  # RISK_* rule settings and the run's ids
    offline: bool
    freqtrade_version: str
    bundle: str  # bundle_digest() of the client
    label: str = ""  # for people: "MaCrossoverStrategy fold 1/2: hyperopt"

    def digest(self) -> str:
        """sha256 of the inputs that decide the answer (not the key, label or run ids)."""
        env = {k: v for k, v in self.env.items() if k.startswith("RISK_")}
        blob = json.dumps(
            [self.command, list(self.args), dict(sorted(self.files.items())), env,
             self.offline, self.freqtrade_version, self.bundle],
            sort_keys=True,
        )  # fmt: skip
        return sha256_bytes(blob.encode())


def worker_argv(spec: JobSpec, root: Path) -> list[str]:
    """Freqtrade's command line for ``spec`` in the job folder ``root`` (all paths there)."""
    argv = [spec.command, "-c", str(root / CONFIG_FILE)]
    argv += ["--userdir", str(root / USER_DATA), "--datadir", str(root / DATA_DIR)]
    argv += ["--strategy-path", str(root / STRATEGY_DIR), "--logfile", str(root / LOG_FILE)]
    if spec.command == "backtesting":
        argv += ["--backtest-directory", str(root / USER_DATA / "backtest_results")]
    return [*argv, *spec.args]


@dataclass
class Blobs:
    """Blob bytes by sha256, as shipped with a job whose worker lacked them."""

    data: dict[str, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.data.values())


@dataclass(frozen=True)
class NeedBlobs:
    """A worker's answer when its cache lacks inputs: send these and run again there."""

    worker: str
    missing: tuple[str, ...]


@dataclass
class JobResult:
    """What a job sends back. ``files`` maps ``backtest_results/<name>`` or
    ``hyperopt_results/<name>`` to the bytes of each result file Freqtrade wrote."""

    key: str
    attempt: str
    worker: str
    host: str
    exit_code: int  # 128 + N when Freqtrade died of signal N
    files: dict[str, bytes] = field(default_factory=dict)
    log: str = ""  # Freqtrade's log file
    output: str = ""  # Freqtrade's stdout and stderr
    guard_log: str = ""  # the guard's JSON lines (user_data/logs/risk.jsonl)
    timings: dict[str, float] = field(default_factory=dict)
    fetched: tuple[str, ...] = ()  # blobs this attempt received (its cache lacked them)
    error: str | None = None  # the job could not run Freqtrade at all (why)

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of Freqtrade's log, else of its output (for incidents)."""
        text = self.log or self.output or (self.error or "")
        return "".join(text.splitlines(keepends=True)[-lines:])
