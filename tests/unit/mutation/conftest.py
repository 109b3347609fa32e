"""Helpers for the mutation tooling's tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, clean_env


def run_python(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repo root, as a developer or the nightly workflow runs it."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
