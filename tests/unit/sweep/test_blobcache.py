"""The worker's content-addressed cache: verified writes, damaged files, safe layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.errors import DataError
from app.sweep.blobcache import BlobCache
from app.sweep.jobs import sha256_bytes


def test_put_when_bytes_match_then_stored_read_only_and_found(tmp_path: Path) -> None:
    """A verified blob is stored under its hash, read-only, and no longer missing."""
    cache = BlobCache(tmp_path / "cache")
    data = b"candles"
    sha = sha256_bytes(data)

    assert cache.missing([sha, sha]) == [sha]
    cache.put(sha, data)

    assert cache.missing([sha]) == []
    assert cache.path(sha).read_bytes() == data
    assert not os.access(cache.path(sha), os.W_OK) or os.geteuid() == 0
    assert cache.path(sha).stat().st_mode & 0o222 == 0


def test_put_when_bytes_do_not_match_then_refused_and_nothing_stored(tmp_path: Path) -> None:
    """Bytes that are not what the hash names are never stored."""
    cache = BlobCache(tmp_path)
    sha = sha256_bytes(b"right")

    with pytest.raises(DataError, match="refusing to store"):
        cache.put(sha, b"wrong")

    assert cache.missing([sha]) == [sha]


def test_has_when_stored_file_was_damaged_then_missing_again(tmp_path: Path) -> None:
    """A cached file whose content changed counts as absent (and is shipped again)."""
    sha = sha256_bytes(b"original")
    BlobCache(tmp_path).put(sha, b"original")
    path = BlobCache(tmp_path).path(sha)
    path.chmod(0o644)
    path.write_bytes(b"damaged")

    assert BlobCache(tmp_path).missing([sha]) == [sha]


def test_path_when_hash_is_not_hex_then_refused(tmp_path: Path) -> None:
    """A crafted 'hash' cannot name a path outside the cache."""
    with pytest.raises(DataError, match="not a sha256"):
        BlobCache(tmp_path).path("../../etc/passwd" + "0" * 48)


def test_materialize_when_files_given_then_laid_out_in_the_job_folder(tmp_path: Path) -> None:
    """Each relative path gets the blob's content; folders are created."""
    cache = BlobCache(tmp_path / "cache")
    sha = sha256_bytes(b"x")
    cache.put(sha, b"x")

    cache.materialize({"data/futures/A.feather": sha, "config.json": sha}, tmp_path / "job")

    assert (tmp_path / "job" / "data" / "futures" / "A.feather").read_bytes() == b"x"
    assert (tmp_path / "job" / "config.json").read_bytes() == b"x"


@pytest.mark.parametrize("relative", ["../escape.json", "/etc/passwd", "data/../../x", "."])
def test_materialize_when_path_leaves_the_folder_then_refused(
    tmp_path: Path, relative: str
) -> None:
    """A spec cannot write outside its job folder."""
    cache = BlobCache(tmp_path / "cache")
    sha = sha256_bytes(b"x")
    cache.put(sha, b"x")

    with pytest.raises(DataError, match="outside the job folder"):
        cache.materialize({relative: sha}, tmp_path / "job")
