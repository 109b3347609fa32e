"""Property: whatever manifest.json holds, verify and restore raise BackupError or succeed.

Never another exception (no traceback for the operator), and never a write anywhere but
the files a successful restore reports, under the target user_data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.backup.restore import restore_backup, verify_backup
from app.errors import BackupError
from tests.unit.backup.builders import paths_for, reseal, snapshot

BOUNDED = settings(
    max_examples=int(os.environ.get("BACKUP_PROPERTY_EXAMPLES", "60")),
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["path", "component", "kind", "target", "size", "sha256", "integrity"]
TOP = [
    "format",
    "format_version",
    "created_utc",
    "versions",
    "source",
    "notes",
    "redacted",
    "files",
]


@contextmanager
def _sandbox(pristine: tuple[Path, Path], manifest: bytes | None) -> Iterator[Path]:
    """A copy of the real backup (its manifest replaced) and an empty target, in one folder."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(pristine[1], root / "backup")
        if manifest is not None:
            (root / "backup" / "manifest.json").write_bytes(manifest)
        (root / "target" / "user_data").mkdir(parents=True)
        yield root


def _check(root: Path) -> None:
    """verify and restore: BackupError or success; writes only what success reports."""
    before = snapshot(root)
    with contextlib.suppress(BackupError):
        verify_backup(root / "backup")
    target = paths_for(root / "target" / "user_data")
    try:
        result = restore_backup(root / "backup", target)
    except BackupError:
        assert snapshot(root) == before
        return
    after = snapshot(root)
    changed = {k for k in after if before.get(k) != after[k]}
    reported = {p.relative_to(root).as_posix() for p in result.files}
    folders = {k for k in changed if after[k] == "folder"}
    assert changed - folders == reported
    assert all(k.startswith("target/user_data/") for k in changed)


@BOUNDED
@given(data=st.binary(max_size=600))
def test_manifest_when_arbitrary_bytes_then_backup_error_only(
    pristine: tuple[Path, Path], data: bytes
) -> None:
    """Arbitrary bytes as manifest.json: a BackupError, nothing written."""
    with _sandbox(pristine, data) as root:
        _check(root)


@BOUNDED
@given(document=JSON)
def test_manifest_when_arbitrary_json_then_backup_error_only(
    pristine: tuple[Path, Path], document: Any
) -> None:
    """Any JSON document as manifest.json: a BackupError, nothing written."""
    with _sandbox(pristine, json.dumps(document).encode()) as root:
        _check(root)


@BOUNDED
@given(
    top=st.sampled_from(TOP), field=st.sampled_from(FIELDS), index=st.integers(0, 20), value=JSON
)
def test_manifest_when_real_one_mutated_then_error_or_only_reported_writes(
    pristine: tuple[Path, Path], top: str, field: str, index: int, value: Any
) -> None:
    """A real manifest with one field (top level or of one entry) replaced by any JSON."""
    document = json.loads((pristine[1] / "manifest.json").read_text())
    files = document["files"]
    if index < len(files):
        files[index][field] = value
    else:
        document[top] = value
    with _sandbox(pristine, json.dumps(document).encode()) as root:
        _check(root)


def test_check_when_manifest_untouched_then_restore_succeeds(pristine: tuple[Path, Path]) -> None:
    """The property's success branch is reachable: the real backup restores, files reported."""
    with _sandbox(pristine, None) as root:
        _check(root)
        assert (root / "target" / "user_data" / "strategies" / "ma_crossover.json").is_file()


@BOUNDED
@given(
    archive=st.sampled_from(["logs.zip", "state.zip", "backtest_results.zip"]),
    changes=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6
    ),
)
def test_archive_when_bytes_damaged_and_resealed_then_error_or_only_reported_writes(
    pristine: tuple[Path, Path], archive: str, changes: list[tuple[int, int]]
) -> None:
    """An archive with bytes changed (checksums recomputed, as an attacker would)."""
    with _sandbox(pristine, None) as root:
        path = root / "backup" / archive
        data = bytearray(path.read_bytes())
        for position, value in changes:
            data[position % len(data)] = value
        path.write_bytes(bytes(data))
        reseal(root / "backup")
        _check(root)
