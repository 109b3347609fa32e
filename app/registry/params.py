"""Parameter promotion: a hyperopt run's best parameters become the strategy's live set.

``promote`` writes the parameter file Freqtrade loads (see ``paramfile.py``) and records a
``param_sets`` row that is active and points at the set it replaced. ``rollback``
re-activates the previous set and rewrites its file, or, past the first promotion,
restores whatever file was there before (removing it when there was none, so the
strategy's defaults apply again). The file is written inside the database transaction
and put back as it was when the transaction fails, so file and registry agree.

Freqtrade itself rewrites this file at the end of every hyperopt unless
``--disable-param-export`` is given; ``history`` reports when the file on disk no longer
matches the active set.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import RegistryError
from app.registry.models import ParamSet, Run
from app.registry.paramfile import (
    file_strategy_name,
    find_strategy_file,
    param_file_of,
    read_param_file,
    render_param_file,
    validate_params,
    write_atomically,
)
from app.registry.records import ParamSetRecord
from app.registry.store import Registry, utc_now

STRATEGIES_DIR = Path("user_data/strategies")


@dataclass(frozen=True, slots=True)
class Promotion:
    """Outcome of ``promote``: the new active set and the one it replaced."""

    param_set: ParamSetRecord
    previous: ParamSetRecord | None
    file: Path


@dataclass(frozen=True, slots=True)
class Rollback:
    """Outcome of ``rollback``: the retired set, the set now active (if any), the file."""

    retired: ParamSetRecord
    active: ParamSetRecord | None
    file: Path
    file_removed: bool


@dataclass(frozen=True, slots=True)
class History:
    """Every set of a strategy, newest first, and whether the file matches the active set."""

    strategy: str
    param_sets: list[ParamSetRecord]
    file: Path | None
    file_matches_active: bool | None


@contextlib.contextmanager
def _file_guard(path: Path) -> Iterator[None]:
    """Put ``path`` back as it was when the enclosed database work fails."""
    before = read_param_file(path)
    try:
        yield
    except BaseException:
        if read_param_file(path) != before:
            write_atomically(path, before)
        raise


class ParamPromoter:
    """Promote, roll back and list parameter sets of strategies in ``strategies_dir``."""

    def __init__(self, registry: Registry, strategies_dir: Path = STRATEGIES_DIR) -> None:
        self.registry = registry
        self.strategies_dir = strategies_dir

    @staticmethod
    def _active(session: Session, strategy: str) -> ParamSet | None:
        stmt = (
            select(ParamSet)
            .where(ParamSet.strategy == strategy, ParamSet.active.is_(True))
            .with_for_update()
        )
        return session.scalars(stmt).first()

    @staticmethod
    def _promotable(run: Run | None, run_id: str, strategy: str | None) -> Run:
        if run is None:
            raise RegistryError(
                f"run {run_id!r} is not in the registry; find hyperopt runs with "
                "`tradingbot registry runs --kind hyperopt`"
            )
        if run.kind != "hyperopt":
            raise RegistryError(
                f"run {run_id} is a {run.kind} run; only hyperopt runs can be promoted"
            )
        if run.status != "succeeded":
            raise RegistryError(
                f"run {run_id} has status {run.status!r}; only succeeded hyperopt runs can be "
                "promoted"
            )
        if not run.strategy:
            raise RegistryError(f"run {run_id} recorded no strategy; it cannot be promoted")
        if strategy is not None and strategy != run.strategy:
            raise RegistryError(
                f"run {run_id} optimised strategy {run.strategy!r}, not {strategy!r}; promote a "
                f"run of {strategy!r} or drop --strategy"
            )
        return run

    def _target(self, strategy: str) -> Path:
        path = param_file_of(find_strategy_file(self.strategies_dir, strategy))
        existing = read_param_file(path)
        owner = None if existing is None else file_strategy_name(existing)
        if owner is not None and owner != strategy:
            raise RegistryError(
                f"{str(path)!r} holds the parameters of strategy {owner!r}, which shares its "
                f"file with {strategy!r}; Freqtrade can load only one of them: move {strategy!r} "
                "into its own .py file"
            )
        return path

    def promote(self, run_id: str, *, strategy: str | None = None) -> Promotion:
        """Make run ``run_id``'s best parameters the strategy's active set and file."""
        with self.registry.session() as session:
            run = self._promotable(session.get(Run, run_id), run_id, strategy)
            name = str(run.strategy)
            params = validate_params(run_id, run.params)
        path = self._target(name)
        with _file_guard(path), self.registry.session(write=True) as session:
            run = self._promotable(session.get(Run, run_id), run_id, strategy)
            now = utc_now()
            previous = self._active(session, name)
            if previous is not None:
                previous.active = False
                previous.retired_utc = now
                session.flush()  # the one-active-set index must see the old set retired first
            new = ParamSet(
                strategy=name,
                source_run_id=run_id,
                params=params,
                promoted_utc=now,
                active=True,
                previous_id=None if previous is None else previous.id,
                file_path=str(path),
                replaced_file=read_param_file(path),
            )
            session.add(new)
            session.flush()
            write_atomically(path, render_param_file(name, params, now))
            return Promotion(
                param_set=ParamSetRecord.from_row(new),
                previous=None if previous is None else ParamSetRecord.from_row(previous),
                file=path,
            )

    def rollback(self, strategy: str) -> Rollback:
        """Retire the active set; re-activate the one it replaced and rewrite the file."""
        path = self._target(strategy)
        with _file_guard(path), self.registry.session(write=True) as session:
            current = self._active(session, strategy)
            if current is None:
                raise RegistryError(
                    f"strategy {strategy!r} has no active parameter set; nothing to roll back "
                    f"(see `tradingbot params history {strategy}`)"
                )
            now = utc_now()
            current.active = False
            current.retired_utc = now
            session.flush()
            restored = (
                None if current.previous_id is None else session.get(ParamSet, current.previous_id)
            )
            if restored is not None:
                restored.active = True
                restored.retired_utc = None
                text: str | None = render_param_file(strategy, restored.params, now)
            else:
                text = current.replaced_file
            write_atomically(path, text)
            return Rollback(
                retired=ParamSetRecord.from_row(current),
                active=None if restored is None else ParamSetRecord.from_row(restored),
                file=path,
                file_removed=text is None,
            )

    def history(self, strategy: str) -> History:
        """All sets of ``strategy``, newest first, and whether its file matches the active one."""
        stmt = select(ParamSet).where(ParamSet.strategy == strategy).order_by(ParamSet.id.desc())
        with self.registry.session() as session:
            sets = [ParamSetRecord.from_row(row) for row in session.scalars(stmt)]
        active = next((s for s in sets if s.active), None)
        path: Path | None = None
        matches: bool | None = None
        with contextlib.suppress(RegistryError):
            path = param_file_of(find_strategy_file(self.strategies_dir, strategy))
        if path is not None and active is not None:
            matches = _params_of(read_param_file(path)) == active.params
        return History(strategy, sets, path, matches)


def _params_of(text: str | None) -> Any:
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document.get("params") if isinstance(document, dict) else None
