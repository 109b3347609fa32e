"""Run Cosmic Ray for one target: session, filters, baseline, execution, reports.

Called by ``python -m mutation run`` (``make mutation``) once per module, one after the
other. Cosmic Ray edits the module it mutates in place, so everything runs in a scratch
copy of the working tree (``mutation/out/tree``): the developer's files are never
touched, even by a run killed with SIGKILL. Sessions live in ``mutation/out/`` and are
reused: an unchanged module with unchanged tests costs nothing; changed tests (or other
code) re-test only the survivors; a changed module starts its session again.

Needs the ``mutation`` extra (Cosmic Ray). On failure raises :class:`SessionError`
with what went wrong and what to do; a partly executed session keeps its results.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from cosmic_ray.config import ConfigDict, serialize_config
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

from mutation import report
from mutation.annotations import in_unevaluated_annotation, unevaluated_annotation_spans
from mutation.targets import (
    REPO_ROOT,
    Target,
    context_fingerprint,
    module_fingerprint,
    pytest_command,
)

BIN = Path(sys.executable).parent
PROGRESS_EVERY_S = 60.0
ANNOTATION_SKIP = "skipped: inside an annotation Python never evaluates (postponed annotations)"


class SessionError(Exception):
    """A module's mutation run could not go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Paths:
    """The files of one target's session under the output folder."""

    config: Path
    session: Path
    state: Path
    summary: Path
    text: Path
    html: Path

    @classmethod
    def of(cls, target: Target, out: Path) -> Paths:
        """``out/<slug>.{toml,sqlite,state,json,txt,html}`` (``.state``: fingerprints, JSON)."""
        base = out / target.slug
        return cls(
            *(Path(f"{base}{suffix}") for suffix in (".toml", ".sqlite", ".state")),
            *(Path(f"{base}{suffix}") for suffix in (".json", ".txt", ".html")),
        )


def _cosmic(tool: str, *args: str | Path, cwd: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / tool), *map(str, args)], cwd=cwd, **kwargs)


def _call(tool: str, *args: str | Path, cwd: Path, stdout: Any = None) -> tuple[int, str]:
    proc = _cosmic(tool, *args, cwd=cwd, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    text = (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
    return proc.returncode, text


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and every process it started (Cosmic Ray runs pytest in a new session)."""
    try:
        family = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(family, timeout=5)
    for member in alive:
        member.kill()
    proc.wait()


def _write_config(
    paths: Paths, target: Target, config: dict[str, Any], command: str, timeout: float
) -> None:
    section = ConfigDict(config["cosmic-ray"])
    section["module-path"] = target.module
    section["test-command"] = command
    section["timeout"] = round(timeout, 1)
    paths.config.write_text(serialize_config(section), encoding="utf-8")


def _pending(session: Path) -> int:
    with use_db(str(session), WorkDB.Mode.open) as db:
        return sum(1 for _ in db.pending_work_items)


def _skip_annotations(session: Path, tree: Path) -> int:
    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        spans_of: dict[str, Any] = {}
        for item in items:
            (spec,) = item.mutations
            path = str(spec.module_path)
            if path not in spans_of:
                source = (tree / path).read_text(encoding="utf-8")
                spans_of[path] = unevaluated_annotation_spans(source)
            if in_unevaluated_annotation(spans_of[path], tuple(spec.start_pos)):
                result = WorkResult(output=ANNOTATION_SKIP, worker_outcome=WorkerOutcome.SKIPPED)
                db.set_result(item.job_id, result)
                skipped += 1
    return skipped


def _retest_survivors(session: Path) -> int:
    # Cosmic Ray has no API to forget a result; its schema is pinned with its version.
    with sqlite3.connect(session) as db:
        cursor = db.execute(
            "DELETE FROM work_results WHERE test_outcome IN ('SURVIVED', 'INCOMPETENT')"
            " OR worker_outcome IN ('EXCEPTION', 'ABNORMAL')"
        )
        return cursor.rowcount


def _load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _execute(paths: Paths, tree: Path, total: int, say: Callable[[str], None]) -> float:
    started = time.monotonic()
    proc = _cosmic("cosmic-ray", "exec", paths.config, paths.session, cwd=tree)
    try:
        while proc.poll() is None:
            try:
                proc.wait(timeout=PROGRESS_EVERY_S)
            except subprocess.TimeoutExpired:
                left = _pending(paths.session)
                say(f"  {total - left}/{total} done, {time.monotonic() - started:.0f} s")
    except BaseException:
        _stop(proc)
        raise
    if proc.returncode != 0:
        raise SessionError(
            f"cosmic-ray exec failed (exit {proc.returncode}) for {paths.session}; "
            "its results so far are kept, run again to go on"
        )
    return time.monotonic() - started


def _dump_lines(paths: Paths, tree: Path) -> list[str]:
    code, text = _call("cosmic-ray", "dump", paths.session, cwd=tree)
    if code != 0:
        raise SessionError(f"cosmic-ray dump {paths.session} failed: {text.strip()}")
    return [line for line in text.splitlines() if line.startswith("[")]


def prepare(
    target: Target, config: dict[str, Any], out: Path, tree: Path, say: Callable[[str], None]
) -> tuple[Paths, dict[str, Any]]:
    """Create, renew or reuse the target's session so that only new work is pending."""
    paths = Paths.of(target, out)
    # Fingerprints of the copy that is tested, not of the tree a developer may be editing.
    command = pytest_command(target, sys.executable, tree)
    state = _load_state(paths.state)
    fresh = {
        "module": module_fingerprint(target, config, tree),
        "context": context_fingerprint(target, command, tree),
    }
    timeout = float(state.get("timeout", config["cosmic-ray"]["timeout"]))
    _write_config(paths, target, config, command, timeout)
    if not paths.session.exists() or state.get("module") != fresh["module"]:
        code, text = _call("cosmic-ray", "init", "--force", paths.config, paths.session, cwd=tree)
        if code != 0:
            raise SessionError(f"cosmic-ray init failed for {target.module}: {text.strip()}")
        code, text = _call("cr-filter-operators", paths.session, paths.config, cwd=tree)
        if code != 0:
            raise SessionError(f"cr-filter-operators failed for {target.module}: {text.strip()}")
        skipped = _skip_annotations(paths.session, tree)
        say(f"  new session ({skipped} mutants inside annotations skipped)")
        state = {"seconds": 0.0}
    elif state.get("context") != fresh["context"]:
        say(f"  tests or other code changed: {_retest_survivors(paths.session)} survivors again")
    state |= fresh | {"timeout": timeout, "command": command}
    # Saved before testing: an interrupted run resumes this session instead of renewing it.
    paths.state.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return paths, state


def run_target(
    target: Target, config: dict[str, Any], out: Path, tree: Path, say: Callable[[str], None]
) -> report.ModuleScore:
    """Test the target's pending mutants (baseline first) and write its reports."""
    paths, state = prepare(target, config, out, tree, say)
    pending = _pending(paths.session)
    if pending:
        started = time.monotonic()
        code, text = _call("cosmic-ray", "baseline", paths.config, cwd=tree)
        if code != 0:
            raise SessionError(
                f"baseline failed for {target.module}: its tests fail on the unmutated "
                f"code, so no mutant can be judged. Fix them first; output:\n{text[-3000:]}"
            )
        factor = float(config.get("mutation", {}).get("timeout-factor", 10.0))
        floor = float(config["cosmic-ray"]["timeout"])
        state["timeout"] = max(floor, factor * (time.monotonic() - started))
        _write_config(paths, target, config, state["command"], state["timeout"])
        say(f"  {pending} mutants to test, timeout {state['timeout']:.0f} s each")
        state["seconds"] = float(state.get("seconds", 0.0)) + _execute(paths, tree, pending, say)
    paths.state.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return write_reports(target, paths, tree, float(state.get("seconds", 0.0)))


def write_reports(target: Target, paths: Paths, tree: Path, seconds: float) -> report.ModuleScore:
    """The module's JSON summary, text report of survivors and HTML report."""
    mutants = report.parse_dump(_dump_lines(paths, tree))
    equivalents = report.read_equivalents(
        report.EQUIVALENTS_DOC.read_text(encoding="utf-8")
        if report.EQUIVALENTS_DOC.exists()
        else ""
    )
    score = report.score_module(target.module, mutants, equivalents)
    score.seconds = seconds
    paths.summary.write_text(json.dumps(report.to_json(score), indent=2), encoding="utf-8")
    with paths.text.open("w", encoding="utf-8") as text:
        _call("cr-report", "--show-diff", "--surviving-only", paths.session, cwd=tree, stdout=text)
    with paths.html.open("w", encoding="utf-8") as html:
        _call("cr-html", paths.session, cwd=tree, stdout=html)
    return score


def use_tree(tree: Path) -> None:
    """Make every Python the tests start import ``app`` from ``tree``, subprocesses too.

    The project is installed in editable mode, pointing at the checkout: without this a
    test that runs ``python -m app`` or ``scripts/*.py`` would test the unmutated code.
    """
    inherited = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), inherited]))


def environment_ready() -> None:
    """Raise SessionError unless Cosmic Ray's commands sit beside this Python."""
    missing = [t for t in ("cosmic-ray", "cr-report", "cr-html") if not (BIN / t).exists()]
    if missing:
        raise SessionError(
            f"{', '.join(missing)} not found in {BIN}: install the mutation extra "
            "(`make mutation` does: pip install -e '.[dev,mutation]')"
        )
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # never leave a mutant's .pyc behind
    if not (REPO_ROOT / "tests").is_dir():
        raise SessionError(f"{REPO_ROOT} has no tests/ folder: run from a full checkout")
