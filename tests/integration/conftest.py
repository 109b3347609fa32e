"""Fixtures shared by the integration tests of more than one module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SHARED_PAIRS, make_project, run_cli

SWEEP_STRATEGY = "MeanReversionStrategy"


@pytest.fixture(scope="session")
def sweep(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]]:
    """``tradingbot sweep --json --promote`` of one strategy in process: 2 folds, 3 epochs.

    test_sweep.py checks it; test_sweep_cluster.py compares the cluster's answers with it.
    """
    project = make_project(tmp_path_factory.mktemp("sweep"))
    args = ["sweep", "--strategies", SWEEP_STRATEGY, "--timerange", "20180111-20180129"]
    args += ["--folds", "2", "--epochs", "3", "-j", "2", "--random-state", "3"]
    args += ["--datadir", str(shared_data), "--pairs", *SHARED_PAIRS, "--promote", "--json"]
    result = run_cli(args, project)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return project, result, json.loads(result.stdout)
