"""A worker's content-addressed file cache: ``<root>/<sha256[:2]>/<sha256>``.

Called on a Dask worker before a job runs. A blob is stored only after its bytes were
checked against the hash that names it, written to a temporary file in the same folder
and renamed into place, so concurrent jobs (or worker processes sharing the folder) never
see half a file. Stored files are read-only: a job's folder links them in
(:meth:`BlobCache.materialize`), and a program that tried to write one would fail
loudly instead of changing the input of later jobs.

A file whose content no longer matches its name (disk damage, a person editing it) is
treated as absent and shipped again. Nothing is evicted: remove the folder to reclaim
space (``TRADINGBOT_SWEEP_CACHE_DIR``, else the worker's local directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from app.errors import DataError
from app.sweep.jobs import sha256_bytes

_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BlobCache:
    """Blobs by sha256 under ``root`` (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._verified: set[str] = set()  # checked since this process started

    def path(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise DataError(f"{sha!r} is not a sha256 hex digest; the job spec is damaged")
        return self.root / sha[:2] / sha

    def has(self, sha: str) -> bool:
        """True when the blob is stored and its content matches its name."""
        path = self.path(sha)
        if sha in self._verified and path.is_file():
            return True
        if not path.is_file():
            return False
        if _file_sha256(path) != sha:
            with contextlib.suppress(OSError):
                path.chmod(0o600)
                path.unlink()
            return False
        self._verified.add(sha)
        return True

    def missing(self, shas: Iterable[str]) -> list[str]:
        """The hashes of ``shas`` this cache cannot provide, sorted and without repeats."""
        return sorted({sha for sha in shas if not self.has(sha)})

    def put(self, sha: str, data: bytes) -> None:
        """Store ``data`` under ``sha``; :class:`DataError` when the bytes do not match."""
        actual = sha256_bytes(data)
        if actual != sha:
            raise DataError(f"blob {sha} arrived with content {actual}; refusing to store it")
        target = self.path(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).chmod(0o444)
            Path(tmp).replace(target)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
        self._verified.add(sha)

    def materialize(self, files: Mapping[str, str], folder: Path) -> None:
        """Lay out ``relative path -> sha256`` under ``folder`` (hard links, else copies).

        Relative paths that would leave ``folder`` are refused: a spec names files inside
        its job folder only.
        """
        base = folder.resolve()
        for relative, sha in sorted(files.items()):
            target = (folder / relative).resolve()
            if not target.is_relative_to(base) or target == base:
                raise DataError(f"job file {relative!r} points outside the job folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = self.path(sha)
            try:
                os.link(source, target)
            except OSError:  # another file system, or links not allowed: copy
                shutil.copyfile(source, target)
