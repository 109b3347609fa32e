"""``python -m mutation`` (mutation/cli.py) as a developer and the nightly workflow run it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mutation.report import ModuleScore, to_json
from tests.unit.mutation.conftest import run_python


def _mutation(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "mutation", *args)


def _write(folder: Path, module: str, **counts: int) -> None:
    score = ModuleScore(module, seconds=30.0)
    score.counts.update(counts)
    folder.mkdir(parents=True, exist_ok=True)
    slug = module.removesuffix(".py").replace("/", ".")
    (folder / f"{slug}.json").write_text(json.dumps(to_json(score)))


def test_summary_when_artifacts_merged_then_table_per_module_and_total(tmp_path: Path) -> None:
    """Module summaries from several artifact folders (sessions' state files beside them)
    merge into one table with a TOTAL."""
    _write(tmp_path / "a", "app/risk/decision.py", killed=19, survived=0, equivalent=1)
    _write(tmp_path / "b" / "nested", "app/risk/state.py", killed=10, timeout=1)
    (tmp_path / "b" / "app.risk.state.state").write_text('{"module": "fingerprint"}')
    out = tmp_path / "out"

    result = _mutation("summary", tmp_path / "a", tmp_path / "b", "--out", out)

    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert list(rows) == ["app/risk/decision.py", "app/risk/state.py", "TOTAL"]
    assert rows["TOTAL"][3:5] == ["29", "1"]
    assert rows["TOTAL"][-3:] == ["100.0", "%", "60"]
    assert (out / "summary.txt").read_text() == result.stdout


def test_summary_when_survivor_undocumented_then_exit_1_naming_it(tmp_path: Path) -> None:
    """A survivor makes the run fail (the nightly turns red) unless --no-check is given."""
    _write(tmp_path, "app/risk/decision.py", killed=9, pending=1)

    failed = _mutation("summary", tmp_path, "--out", tmp_path / "out")
    unchecked = _mutation("summary", tmp_path, "--out", tmp_path / "out", "--no-check")

    assert failed.returncode == 1
    assert "app/risk/decision.py: 1 mutants not tested yet" in failed.stdout
    assert "docs/MUTATION.md" in failed.stderr
    assert unchecked.returncode == 0


def test_summary_when_nothing_found_or_file_broken_then_exit_1(tmp_path: Path) -> None:
    """No summary, or a file that is not one, is an error naming the folder or the file."""
    empty = _mutation("summary", tmp_path)
    (tmp_path / "app.risk.decision.json").write_text("{}")
    broken = _mutation("summary", tmp_path)

    assert (empty.returncode, broken.returncode) == (1, 1)
    assert f"no module summary (app.*.json) under {tmp_path}" in empty.stderr
    assert "app.risk.decision.json is not a module summary" in broken.stderr


def test_run_when_module_unknown_then_exit_2_before_anything_runs(tmp_path: Path) -> None:
    """A MODULES typo is a usage error (exit 2) that lists the targets; nothing is written."""
    result = _mutation("run", "app/risk/typo.py", "--out", tmp_path / "out")

    assert result.returncode == 2
    assert "MODULES='app/risk/typo.py' matches no target" in result.stderr
    assert not (tmp_path / "out").exists()
