"""The scratch tree (mutation/tree.py): what a mutation run copies, and what it leaves alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mutation.tree import TreeError, copy_tree


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout with tracked, untracked, ignored and deleted files, and ../shared."""
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "rule.py").write_text("LIMIT = 1\n")
    (repo / "app" / "gone.py").write_text("")
    (repo / ".gitignore").write_text("*.sqlite\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    (repo / "app" / "gone.py").unlink()
    (repo / "app" / "rule.py").write_text("LIMIT = 2\n")  # uncommitted edit
    (repo / "tests").mkdir()
    (repo / "tests" / "test_rule.py").write_text("def test_new(): pass\n")  # untracked
    (repo / "registry.sqlite").write_text("ignored")
    (repo / "link.py").symlink_to("app/rule.py")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    return repo


def test_copy_when_tree_edited_then_working_files_copied_not_ignored_ones(checkout: Path) -> None:
    """The copy is the working tree as the developer has it: edits and new files, no
    ignored or deleted files, symlinks kept as links."""
    dest = checkout.parent / "out" / "tree"

    copy_tree(checkout, dest)

    assert (dest / "app" / "rule.py").read_text() == "LIMIT = 2\n"
    assert (dest / "tests" / "test_rule.py").is_file()
    assert not (dest / "registry.sqlite").exists()
    assert not (dest / "app" / "gone.py").exists()
    assert (dest / "link.py").is_symlink()


def test_copy_when_mutated_then_original_untouched_and_next_copy_fresh(checkout: Path) -> None:
    """Writing a mutant into the copy never reaches the checkout; the next copy starts clean."""
    dest = checkout.parent / "out" / "tree"
    copy_tree(checkout, dest)
    (dest / "app" / "rule.py").write_text("LIMIT = -2\n")
    (dest / "stray.txt").write_text("left by a killed run")

    copy_tree(checkout, dest)

    assert (checkout / "app" / "rule.py").read_text() == "LIMIT = 2\n"
    assert (dest / "app" / "rule.py").read_text() == "LIMIT = 2\n"
    assert not (dest / "stray.txt").exists()


def test_copy_when_shared_data_beside_checkout_then_linked_beside_copy(checkout: Path) -> None:
    """Tests look for the real candles at <repo>/../shared: the copy finds the same folder."""
    dest = checkout.parent / "out" / "tree"

    copy_tree(checkout, dest)

    assert (dest.parent / "shared").resolve() == (checkout.parent / "shared").resolve()
    assert (dest / ".." / "shared" / "data").is_dir()


def test_copy_when_not_a_checkout_then_error_naming_folder(tmp_path: Path) -> None:
    """Outside a git checkout the copy is refused with the folder's name."""
    with pytest.raises(TreeError, match=f"{tmp_path} is not a git checkout"):
        copy_tree(tmp_path, tmp_path / "out")
