"""The scratch copy of the working tree that a mutation run mutates (``mutation/out/tree``).

Cosmic Ray writes each mutant into the module's file. Doing that in a copy keeps the
developer's files untouched, even when a run is killed with SIGKILL halfway through a
mutant. Needs git (the copy is what ``git ls-files`` lists).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class TreeError(Exception):
    """The tree cannot be copied (no git, not a checkout); the message says why."""


def copy_tree(root: Path, dest: Path) -> None:
    """Copy the working tree (tracked and untracked, not ignored files) to ``dest``.

    Tests find the real candles at ``<repo>/../shared``: ``dest``'s parent gets a link to
    ``root``'s. Raises TreeError when ``root`` is not a git checkout.
    """
    git = shutil.which("git")
    if git is None:
        raise TreeError("git not found on PATH: the tree to mutate is listed with git")
    listed = subprocess.run(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        raise TreeError(f"{root} is not a git checkout: {listed.stderr.decode().strip()}")
    shutil.rmtree(dest, ignore_errors=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = root / name
        if source.is_file() or source.is_symlink():  # deleted tracked files are skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    shared, link = root.parent / "shared", dest.parent / "shared"
    if shared.is_dir() and not link.exists():
        link.unlink(missing_ok=True)  # a dangling link from a moved checkout
        link.symlink_to(shared.resolve(), target_is_directory=True)
