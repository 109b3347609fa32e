"""What `make mutation` mutates and how each module is tested (mutation/targets.toml).

Read once per run. A target is one module and the unit tests that must kill its mutants;
the test command runs only those, with pytest's slow plugins off. Nothing here imports
Cosmic Ray, so the report and these checks run without the ``mutation`` extra.
"""

from __future__ import annotations

import hashlib
import shlex
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MUTATION_DIR = Path(__file__).resolve().parent
REPO_ROOT = MUTATION_DIR.parent
TARGETS_FILE = MUTATION_DIR / "targets.toml"
CONFIG_FILE = MUTATION_DIR / "cosmic-ray.toml"

# -x: the first failure kills the mutant. No cache (the tree is a scratch copy), no random
# order. The plugin checks the tests imported the mutated copy and not Freqtrade.
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly")
PLUGIN = "mutation.pytest_plugin"
# Hypothesis' pytest plugin costs ~1 s per run on this machine; off unless a test uses it.
HYPOTHESIS_PLUGIN_OFF = ("-p", "no:hypothesispytest")


class TargetError(Exception):
    """targets.toml, cosmic-ray.toml or a MODULES selection is wrong; the message says how."""


@dataclass(frozen=True, slots=True)
class Target:
    """One module to mutate and the tests (paths relative to the repo) that test it."""

    module: str
    tests: tuple[str, ...]
    imports_freqtrade: bool = False

    @property
    def slug(self) -> str:
        """``app/risk/rules/base.py`` -> ``app.risk.rules.base`` (the session's file name)."""
        return self.module.removesuffix(".py").replace("/", ".")


def load_targets(path: Path = TARGETS_FILE) -> tuple[Target, ...]:
    """All targets, in file order. Raises TargetError naming the entry that is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from exc
    targets: list[Target] = []
    for index, entry in enumerate(data.get("target", []), start=1):
        module, tests = entry.get("module"), entry.get("tests")
        if not isinstance(module, str) or not module.endswith(".py"):
            raise TargetError(f"{path}: target #{index} needs module = 'path/to/module.py'")
        if not tests or not all(isinstance(t, str) for t in tests):
            raise TargetError(f"{path}: target {module} needs tests = ['tests/...py', ...]")
        unknown = set(entry) - {"module", "tests", "imports-freqtrade"}
        if unknown:
            raise TargetError(f"{path}: target {module} has unknown keys {sorted(unknown)}")
        targets.append(Target(module, tuple(tests), bool(entry.get("imports-freqtrade"))))
    modules = [t.module for t in targets]
    duplicates = sorted({m for m in modules if modules.count(m) > 1})
    if duplicates:
        raise TargetError(f"{path}: modules listed twice: {duplicates}")
    return tuple(targets)


def select(targets: Sequence[Target], wanted: Iterable[str]) -> tuple[Target, ...]:
    """The targets named by ``wanted`` (module paths or folder prefixes); all when empty.

    Raises TargetError for a name that matches no target, listing what exists.
    """
    names = [w.strip() for w in wanted if w.strip()]
    if not names:
        return tuple(targets)
    chosen: list[Target] = []
    for name in names:
        prefix = name.rstrip("/") + "/"
        matches = [t for t in targets if t.module == name or t.module.startswith(prefix)]
        if not matches:
            known = ", ".join(t.module for t in targets)
            raise TargetError(
                f"MODULES={name!r} matches no target in {TARGETS_FILE.name}; use a module "
                f"path or folder from: {known}"
            )
        chosen.extend(t for t in matches if t not in chosen)
    return tuple(chosen)


def check_files(targets: Iterable[Target], root: Path = REPO_ROOT) -> None:
    """Raise TargetError naming every module or test file of ``targets`` that is missing."""
    missing = [
        f"{path} (target {t.module})"
        for t in targets
        for path in (t.module, *t.tests)
        if not (root / path).is_file()
    ]
    if missing:
        raise TargetError(f"missing files: {', '.join(missing)}; fix {TARGETS_FILE.name}")


def pytest_command(target: Target, python: str, root: Path = REPO_ROOT) -> str:
    """The shell-quoted pytest command Cosmic Ray runs for every mutant of ``target``."""
    uses_hypothesis = any(
        "hypothesis" in (root / test).read_text(encoding="utf-8") for test in target.tests
    )
    args = [python, "-m", "pytest", *PYTEST_ARGS, "-p", PLUGIN]
    if not uses_hypothesis:
        args += HYPOTHESIS_PLUGIN_OFF
    if target.imports_freqtrade:
        args.append("--mutation-allows-freqtrade")
    return shlex.join([*args, *target.tests])


def load_config(path: Path = CONFIG_FILE) -> dict[str, Any]:
    """The shared Cosmic Ray config; raises TargetError when unreadable or incomplete."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from exc
    if "cosmic-ray" not in data or "timeout" not in data["cosmic-ray"]:
        raise TargetError(f"{path} needs a [cosmic-ray] table with a timeout")
    return data


# -- FINGERPRINTS ---------------------------------------------------------------------


def _digest(paths: Iterable[Path], root: Path, extra: str = "") -> str:
    sha = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        sha.update(str(path.relative_to(root)).encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()


def module_fingerprint(target: Target, config: dict[str, Any], root: Path = REPO_ROOT) -> str:
    """Changes when the module or the mutation settings change: every result is stale."""
    settings = repr(config.get("cosmic-ray", {}).get("filters", {}))
    return _digest([root / target.module], root, extra=settings)


def context_fingerprint(target: Target, command: str, root: Path = REPO_ROOT) -> str:
    """Changes when the tests, their helpers or the rest of ``app/`` change.

    Then only the surviving mutants are tested again (a new test can only kill more);
    the nightly run starts from scratch and catches a test that got weaker.
    """
    files = {root / t for t in target.tests}
    files |= {p for p in (root / "tests").rglob("*.py") if not p.name.startswith("test_")}
    files |= {p for p in (root / "app").rglob("*.py") if p != root / target.module}
    return _digest(files, root, extra=command.split(" -m pytest ", 1)[-1])
