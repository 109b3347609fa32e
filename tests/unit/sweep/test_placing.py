"""Placing shipped result files: names kept, clashes renamed consistently, readable."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from app.results import read_backtest, read_backtest_meta
from app.sweep.placing import place

STEM = "backtest-result-2026-11-30_10-00-00"


def _zip(stem: str) -> bytes:
    result = {"strategy": {"S": {"trades": [], "total_trades": 0, "profit_total": 0.0}}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"{stem}.json", json.dumps(result))
        archive.writestr(f"{stem}_config.json", "{}")
    return out.getvalue()


def _files(stem: str = STEM) -> dict[str, bytes]:
    return {
        f"{stem}.zip": _zip(stem),
        f"{stem}.meta.json": json.dumps({"S": {"run_id": "x"}}).encode(),
        ".last_result.json": json.dumps({"latest_backtest": f"{stem}.zip"}).encode(),
    }


def test_place_when_name_free_then_written_as_shipped(tmp_path: Path) -> None:
    """A free name is kept; the zip reads as Freqtrade's own."""
    [path] = place(_files(), tmp_path)

    assert path == tmp_path / f"{STEM}.zip"
    assert [r.strategy for r in read_backtest(path)] == ["S"]
    assert read_backtest_meta(path) == {"S": {"run_id": "x"}}


def test_place_when_two_workers_wrote_the_same_second_then_second_renamed(tmp_path: Path) -> None:
    """A clash gets a -2 stem: zip members, meta file and .last_result.json follow it."""
    place(_files(), tmp_path)

    [second] = place(_files(), tmp_path)

    assert second.name == f"{STEM}-2.zip"
    with zipfile.ZipFile(second) as archive:
        assert sorted(archive.namelist()) == [f"{STEM}-2.json", f"{STEM}-2_config.json"]
    assert [r.strategy for r in read_backtest(second)] == ["S"]
    assert (tmp_path / f"{STEM}-2.meta.json").is_file()
    assert json.loads((tmp_path / ".last_result.json").read_text()) == {
        "latest_backtest": f"{STEM}-2.zip"
    }
    assert len(list(tmp_path.glob("*.zip"))) == 2


def test_place_when_hyperopt_file_clashes_then_renamed(tmp_path: Path) -> None:
    """Hyperopt results are renamed the same way and keep their bytes."""
    name = "strategy_S_2026-11-30_10-00-00.fthypt"
    place({name: b"{}\n"}, tmp_path)

    [second] = place({name: b'{"x": 1}\n'}, tmp_path)

    assert second.name == "strategy_S_2026-11-30_10-00-00-2.fthypt"
    assert second.read_bytes() == b'{"x": 1}\n'
