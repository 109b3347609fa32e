"""Put a remote job's result files into the client's result folders, as Freqtrade would.

Freqtrade names results by the second they were written (``backtest-result-<ts>.zip``,
``strategy_<Name>_<ts>.fthypt``). Two workers can finish in the same second, so a name
that is taken gets a ``-2``, ``-3`` ... suffix; inside a backtest zip the member names
carry the same stem (``<stem>.json``, ``<stem>_config.json``, ...) and are renamed with
it, as is the ``.meta.json`` beside it, so the file reads exactly like one Freqtrade
wrote. ``.last_result.json`` is rewritten to name the placed file, as Freqtrade does
after every run.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

LAST_RESULT = ".last_result.json"


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    Path(tmp).replace(path)


def _rename_zip(data: bytes, old: str, new: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            name = info.filename
            if name.startswith(old):
                name = new + name[len(old) :]
            target.writestr(
                zipfile.ZipInfo(name, info.date_time), source.read(info), info.compress_type
            )
    return out.getvalue()


def _free_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    candidate, n = stem, 1
    while any((folder / f"{candidate}{s}").exists() for s in suffixes):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def place(files: Mapping[str, bytes], folder: Path) -> list[Path]:
    """Write ``files`` (names inside ``folder``) and return the paths of the results."""
    folder.mkdir(parents=True, exist_ok=True)
    placed: list[Path] = []
    renamed: dict[str, str] = {}
    for name, content in sorted(files.items()):
        data = content
        if name == LAST_RESULT or name.endswith(".meta.json"):
            continue
        stem, suffix = (name[: -len(".zip")], ".zip") if name.endswith(".zip") else (
            Path(name).stem, Path(name).suffix)  # fmt: skip
        new = _free_stem(folder, stem, (suffix, ".meta.json"))
        if new != stem:
            renamed[name] = f"{new}{suffix}"
            if suffix == ".zip":
                data = _rename_zip(data, stem, new)
        target = folder / f"{new}{suffix}"
        meta = files.get(f"{stem}.meta.json")
        if meta is not None:
            _write(folder / f"{new}.meta.json", meta)
        _write(target, data)
        placed.append(target)
    last = files.get(LAST_RESULT)
    if last is not None:
        document = json.loads(last)
        if isinstance(document, dict):
            document = {k: renamed.get(v, v) for k, v in document.items()}
        _write(folder / LAST_RESULT, json.dumps(document).encode())
    return placed
