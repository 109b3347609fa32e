"""Guard metrics publication (app/risk/publish.py): once per loop, continued across
restarts, and never able to stop the guard from deciding."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import RunMode
from freqtrade.persistence import Trade, init_db

from app.circuit_breaker import BreakerState, BreakerStatus
from app.risk.breaker_view import MemoryBreakerView
from app.risk.guard import Guard, GuardMode
from app.risk.guard_file import BUCKETS, GuardMetrics, Histogram, read_guard_metrics
from app.risk.publish import GuardPublisher, daily_ratios
from app.risk.snapshot import AccountSnapshot
from app.settings import load_settings
from tests.helpers import REPO_ROOT
from tests.strategies.churn_strategies import GuardedChurnStrategy
from tests.unit.risk.conftest import LogReader
from tests.unit.strategies.test_base import FixedWallets, _config, _confirm

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _guard() -> Guard:
    settings = load_settings({}, dotenv_path=None)
    return Guard(settings, mode=GuardMode.LIVE, breaker=MemoryBreakerView(), incidents=None,
                 correlation_id="t")  # fmt: skip


def _account(**kwargs: Any) -> AccountSnapshot:
    values: dict[str, Any] = {
        "taken_at": NOW,
        "breaker": BreakerState(BreakerStatus.INACTIVE, Path("x")),
        "wallet": 100.0,
        "realised_today": -2.0,
        "unrealised": -3.0,
        "day_peak_equity": 110.0,
        "loss_streak": 2,
    }
    return AccountSnapshot.build(**{**values, **kwargs})


def _publisher(path: Path, **kwargs: Any) -> GuardPublisher:
    options: dict[str, Any] = {"bot": "b", "strategy": "S", "drawdown_limit": 0.08,
                               "loss_cap": 0.05, "tracks_streak": True}  # fmt: skip
    return GuardPublisher(path, **{**options, **kwargs})


def test_daily_ratios_when_account_valued_then_as_the_rules_compute() -> None:
    """Drawdown from the peak (incl. open trades) and loss over the day start equity."""
    drawdown, loss = daily_ratios(_account())

    assert drawdown == pytest.approx((110 - 97) / 110)
    assert loss == pytest.approx(5 / 102)
    assert daily_ratios(_account(realised_today=4.0, unrealised=1.0))[1] == 0.0
    assert daily_ratios(_account(unrealised=None)) == (None, None)


def test_publish_when_loop_then_file_has_state_refusals_histogram_and_ratios(
    tmp_path: Path,
) -> None:
    """One publish writes every figure; durations land in their buckets."""
    path = tmp_path / "guard" / "b.json"
    publisher, guard = _publisher(path), _guard()
    guard.refusals.update({"CIRCUIT_BREAKER": 3, "GUARD_ERROR": 1})
    for seconds in (0.0004, 0.003, 0.3, 20.0):
        publisher.observe(seconds)

    assert publisher.publish(guard, _account(), NOW) is True

    got = read_guard_metrics(path)
    assert (got.bot, got.strategy, got.updated, got.state) == ("b", "S", NOW.timestamp(), "ACTIVE")
    assert got.refusals["CIRCUIT_BREAKER"] == 3 and got.refusals["GUARD_ERROR"] == 1
    assert got.refusals["LOSS_STREAK"] == 0  # every reason exported from the start
    cumulative = dict(zip(BUCKETS, got.check_seconds.cumulative, strict=True))
    assert (cumulative[0.0005], cumulative[0.005], cumulative[0.5], cumulative[10.0]) == (
        1,
        2,
        3,
        3,
    )
    assert got.check_seconds.count == 4
    assert got.check_seconds.total == pytest.approx(20.3034)
    assert got.daily_drawdown_ratio == pytest.approx(13 / 110)
    assert (got.daily_drawdown_limit_ratio, got.daily_loss_cap_ratio) == (0.08, 0.05)
    assert got.loss_streak == 2
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]  # no temp file left


def test_publish_when_rules_off_then_ratios_and_streak_absent(tmp_path: Path) -> None:
    """Without the daily rules equity is not valued, without the streak rule no streak."""
    path = tmp_path / "b.json"
    publisher = _publisher(path, drawdown_limit=None, loss_cap=None, tracks_streak=False)

    publisher.publish(_guard(), _account(), NOW)

    got = read_guard_metrics(path)
    assert (got.daily_drawdown_ratio, got.daily_loss_ratio, got.loss_streak) == (None, None, None)


def test_publish_when_guard_counts_reset_then_counter_keeps_growing(tmp_path: Path) -> None:
    """A guard that starts its counts again never makes the exported counter go down."""
    path = tmp_path / "b.json"
    publisher, guard = _publisher(path), _guard()
    guard.refusals["STALE_DATA"] = 5
    publisher.publish(guard, None, NOW)
    guard.refusals["STALE_DATA"] = 7
    publisher.publish(guard, None, NOW)
    guard.reset_counts()
    guard.refusals["STALE_DATA"] = 2
    publisher.publish(guard, None, NOW)

    assert read_guard_metrics(path).refusals["STALE_DATA"] == 9


def test_publisher_when_bot_restarts_then_counters_continue_from_its_file(tmp_path: Path) -> None:
    """A restarted bot continues its counters and histogram: no counter reset."""
    path = tmp_path / "b.json"
    first, guard = _publisher(path), _guard()
    guard.refusals["GUARD_ERROR"] = 4
    first.observe(0.002)
    first.publish(guard, _account(), NOW)

    second, fresh = _publisher(path), _guard()
    fresh.refusals["GUARD_ERROR"] = 1
    second.observe(0.002)
    second.publish(fresh, None, NOW + timedelta(minutes=1))

    got = read_guard_metrics(path)
    assert got.refusals["GUARD_ERROR"] == 5
    assert got.check_seconds.count == 2
    assert got.loss_streak is None  # the new process saw no account yet


def test_publisher_when_previous_file_corrupt_then_starts_from_zero(tmp_path: Path) -> None:
    """A torn file from a crash is not continued (a counter reset, which Prometheus handles)."""
    path = tmp_path / "b.json"
    path.write_text('{"format": 1, "bot": "b", "refusals": {"GUARD_ERROR": 99')

    publisher = _publisher(path)
    publisher.publish(_guard(), None, NOW)

    assert read_guard_metrics(path).refusals["GUARD_ERROR"] == 0


def test_publish_when_folder_unusable_then_false_and_warned_once(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A path whose folder is a file: publish returns False, one warning for many loops."""
    (tmp_path / "guard").write_text("a file where the folder should be")
    publisher = _publisher(tmp_path / "guard" / "b.json")

    results = [publisher.publish(_guard(), _account(), NOW) for _ in range(3)]

    assert results == [False, False, False]
    warnings = [r for r in risk_log() if r["message"] == "guard_metrics_unwritten"]
    assert len(warnings) == 1
    assert "NotADirectoryError" in warnings[0]["error"] or "FileExistsError" in warnings[0]["error"]


def test_publish_when_disk_full_then_false_and_no_exception(tmp_path: Path) -> None:
    """A write that fails half way (file size limit: EFBIG, like a full disk) costs the
    publication only; the previous file stays whole for the exporter."""
    script = textwrap.dedent(
        f"""
        import json, resource, signal, sys
        from datetime import UTC, datetime
        from pathlib import Path
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from app.risk.breaker_view import MemoryBreakerView
        from app.risk.guard import Guard, GuardMode
        from app.risk.publish import GuardPublisher
        from app.settings import load_settings
        guard = Guard(load_settings({{}}, dotenv_path=None), mode=GuardMode.LIVE,
                      breaker=MemoryBreakerView(), incidents=None, correlation_id="t")
        path = Path({str(tmp_path / "b.json")!r})
        publisher = GuardPublisher(path, bot="b", strategy="S", drawdown_limit=None,
                                   loss_cap=None, tracks_streak=False)
        first = publisher.publish(guard, None, datetime(2026, 1, 1, tzinfo=UTC))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
        second = publisher.publish(guard, None, datetime(2026, 1, 2, tzinfo=UTC))
        print(json.dumps([first, second]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [True, False]
    assert "guard_metrics_unwritten" in result.stderr
    assert (
        read_guard_metrics(tmp_path / "b.json").updated
        == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    )


@pytest.fixture
def dry_run_db() -> Iterator[None]:
    init_db("sqlite://")
    yield
    Trade.session.remove()
    Trade.use_db = False


def _dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bot_name: str | None) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    config = _config(RunMode.DRY_RUN)
    if bot_name is not None:
        config["bot_name"] = bot_name
    strategy = GuardedChurnStrategy(config)
    strategy.dp = DataProvider(config, None)
    strategy.wallets = FixedWallets(1.0)
    strategy.bot_start()
    return strategy


@pytest.mark.usefixtures("dry_run_db")
def test_dry_run_when_loop_runs_then_file_named_after_bot_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dry-run bot publishes <state>/guard/<bot_name>.json at each loop, with its checks."""
    strategy = _dry_run(tmp_path, monkeypatch, "desk one")
    assert _confirm(strategy) is True

    strategy.bot_loop_start(current_time=NOW)

    got = read_guard_metrics(tmp_path / "state" / "guard" / "desk-one.json")
    assert got.strategy == "GuardedChurnStrategy"
    assert got.check_seconds.count == 2  # the entry check and the loop's account check


@pytest.mark.usefixtures("dry_run_db")
def test_dry_run_when_guard_folder_unwritable_then_guard_still_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, risk_log: LogReader
) -> None:
    """Publishing fails every loop; entries are still checked, allowed and refused."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "guard").write_text("not a folder")
    monkeypatch.setenv("RISK_LIVE_MAX_CONCURRENT_TRADES", "1")
    strategy = _dry_run(tmp_path, monkeypatch, None)

    strategy.bot_loop_start(current_time=NOW)
    allowed = _confirm(strategy)
    strategy.bot_loop_start(current_time=NOW + timedelta(seconds=5))
    (tmp_path / "state" / "circuit_breaker.json").write_text('{"active": true, "reason": "x"}')
    refused = _confirm(strategy)

    assert (allowed, refused) == (True, False)
    assert len([r for r in risk_log() if r["message"] == "guard_metrics_unwritten"]) == 1


@pytest.mark.parametrize("runmode", [RunMode.BACKTEST, RunMode.HYPEROPT])
def test_backtest_when_guard_runs_then_nothing_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runmode: RunMode
) -> None:
    """Backtests and hyperopt have no publisher: no file, no timing on their hot path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_STATE_DIR", str(tmp_path / "state"))
    strategy = GuardedChurnStrategy(_config(runmode))
    strategy.dp = DataProvider(_config(runmode), None)
    strategy.wallets = FixedWallets(1.0)
    strategy.bot_start()

    _confirm(strategy)
    strategy.bot_loop_start(current_time=NOW)

    assert strategy.guard_runtime.publisher is None
    assert not (tmp_path / "state" / "guard").exists()


# -- EDGES OF THE FIGURES ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"day_peak_equity": None}, (5 / 102, 5 / 102)),  # the peak is the day start here
        ({"day_peak_equity": None, "realised_today": 3.0, "unrealised": 2.0}, (0.0, 0.0)),
        ({"wallet": 0.0, "realised_today": 0.0, "unrealised": -1.0, "day_peak_equity": None},
         (None, None)),
        ({"wallet": 1.0, "realised_today": 1.0, "unrealised": 0.0, "day_peak_equity": None},
         (0.0, None)),
        ({"unrealised": -60.0}, (70 / 110, 62 / 102)),
        ({"wallet": -10.0, "realised_today": 0.0, "unrealised": 0.0, "day_peak_equity": None},
         (None, None)),
        ({"wallet": 0.5, "realised_today": -0.01, "unrealised": -0.02, "day_peak_equity": None},
         (0.03 / 0.51, 0.03 / 0.51)),
    ],
    ids=["no-peak-yet", "in-profit", "nothing-to-lose", "day-started-at-zero",
         "below-half-the-peak", "negative-wallet", "wallet-under-one-coin"],
)  # fmt: skip
def test_daily_ratios_when_peak_unknown_or_base_not_positive_then_as_documented(
    values: dict[str, Any], expected: tuple[float | None, float | None]
) -> None:
    """No peak yet: the day start or equity is the peak; a base of 0 or below (a futures
    wallet in debt) has no ratio (None), never a division by zero or a negative ratio; a
    wallet of a fraction of a coin (BTC-quoted) has ratios like any other."""
    assert daily_ratios(_account(**values)) == pytest.approx(expected)


def test_publish_when_durations_odd_then_only_real_ones_counted_each_in_its_bucket(
    tmp_path: Path,
) -> None:
    """A duration on a bound lands in that bucket (le is inclusive); 0 counts; a negative,
    NaN or infinite one (a clock step) is dropped rather than poisoning the sum."""
    path = tmp_path / "b.json"
    publisher = _publisher(path)
    for seconds in (0.0, 0.25, -1.0, float("nan"), float("inf")):
        publisher.observe(seconds)

    publisher.publish(_guard(), None, NOW)

    hist = read_guard_metrics(path).check_seconds
    cumulative = dict(zip(BUCKETS, hist.cumulative, strict=True))
    assert (cumulative[0.0005], cumulative[0.1], cumulative[0.25]) == (1, 1, 2)
    assert (hist.count, hist.total) == (2, 0.25)


def test_publish_when_guard_count_unchanged_then_counter_unchanged(tmp_path: Path) -> None:
    """Publishing the same guard count twice adds nothing (only increments are added)."""
    path = tmp_path / "b.json"
    publisher, guard = _publisher(path), _guard()
    guard.refusals["STALE_DATA"] = 4
    publisher.publish(guard, None, NOW)
    publisher.publish(guard, None, NOW + timedelta(seconds=5))

    assert read_guard_metrics(path).refusals["STALE_DATA"] == 4


def test_publish_when_ratios_infinite_then_unknown_and_zero_kept(tmp_path: Path) -> None:
    """A ratio that is not finite (an infinite price in the snapshot) is published as
    unknown, never as a file the exporter refuses; a day without loss is 0, not unknown."""
    infinite, flat = tmp_path / "inf.json", tmp_path / "flat.json"

    assert _publisher(infinite).publish(_guard(), _account(unrealised=-math.inf), NOW)
    assert _publisher(flat).publish(
        _guard(), _account(realised_today=0.0, unrealised=0.0, day_peak_equity=None), NOW
    )

    got = read_guard_metrics(infinite)
    assert (got.daily_drawdown_ratio, got.daily_loss_ratio) == (None, None)
    got = read_guard_metrics(flat)
    assert (got.daily_drawdown_ratio, got.daily_loss_ratio) == (0.0, 0.0)


def test_publish_when_no_account_this_loop_then_last_ratios_kept(tmp_path: Path) -> None:
    """A loop whose snapshot failed keeps the last good loop's ratios and streak."""
    path = tmp_path / "b.json"
    publisher, guard = _publisher(path), _guard()
    publisher.publish(guard, _account(), NOW)
    publisher.publish(guard, None, NOW + timedelta(seconds=5))

    got = read_guard_metrics(path)
    assert got.daily_drawdown_ratio == pytest.approx(13 / 110)
    assert got.loss_streak == 2


def test_publish_when_write_works_again_then_logged_once_as_written(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """After failures, the first good write says so once (the operator's all-clear)."""
    folder = tmp_path / "guard"
    folder.write_text("a file for now")
    publisher = _publisher(folder / "b.json")
    assert not publisher.publish(_guard(), None, NOW)
    folder.unlink()

    assert publisher.publish(_guard(), None, NOW)
    assert publisher.publish(_guard(), None, NOW)

    messages = [r["message"] for r in risk_log() if r["message"].startswith("guard_metrics")]
    assert messages == ["guard_metrics_unwritten", "guard_metrics_written"]


def test_publish_when_the_problem_changes_then_each_problem_warned(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """One warning per distinct problem, not per loop and not only the first."""
    folder = tmp_path / "guard"
    folder.write_text("a file")
    publisher = _publisher(folder / "b.json")
    publisher.publish(_guard(), None, NOW)
    publisher.publish(_guard(), None, NOW)
    folder.unlink()
    folder.mkdir()
    (folder / "b.json").mkdir()  # now the replace fails instead
    publisher.publish(_guard(), None, NOW)

    errors = [r["error"] for r in risk_log() if r["message"] == "guard_metrics_unwritten"]
    assert len(errors) == 2
    assert errors[0] != errors[1]
    assert list(folder.iterdir()) == [folder / "b.json"]  # the temp file was removed


def test_publisher_when_previous_file_of_another_bot_or_other_buckets_then_not_continued(
    tmp_path: Path,
) -> None:
    """Another bot's file is never continued; a histogram of other buckets is dropped (its
    counts would land in the wrong bounds) while the refusal counts continue."""
    other_bot = tmp_path / "other.json"
    other_bot.write_text(
        GuardMetrics(bot="x", strategy="S", updated=1.0, refusals={"GUARD_ERROR": 7}).to_text()
    )
    sorted_before = tmp_path / "before.json"  # a label that sorts before "b"
    sorted_before.write_text(
        GuardMetrics(bot="a", strategy="S", updated=1.0, refusals={"GUARD_ERROR": 7}).to_text()
    )
    fewer_buckets = tmp_path / "fewer.json"  # an older layout: the first buckets only
    fewer_buckets.write_text(
        GuardMetrics(
            bot="b",
            strategy="S",
            updated=1.0,
            check_seconds=Histogram(BUCKETS[:3], (1, 2, 3), 4, 0.5),
        ).to_text()
    )
    other_buckets = tmp_path / "buckets.json"
    other_buckets.write_text(
        GuardMetrics(
            bot="b",
            strategy="S",
            updated=1.0,
            refusals={"GUARD_ERROR": 7},
            check_seconds=Histogram((1.0,), (3,), 3, 0.9),
        ).to_text()
    )

    _publisher(other_bot).publish(_guard(), None, NOW)
    _publisher(other_buckets).publish(_guard(), None, NOW)
    _publisher(sorted_before).publish(_guard(), None, NOW)
    _publisher(fewer_buckets).publish(_guard(), None, NOW)

    assert read_guard_metrics(other_bot).refusals["GUARD_ERROR"] == 0
    assert read_guard_metrics(sorted_before).refusals["GUARD_ERROR"] == 0
    fewer = read_guard_metrics(fewer_buckets).check_seconds
    assert (fewer.le, fewer.count, fewer.total) == (BUCKETS, 0, 0.0)
    continued = read_guard_metrics(other_buckets)
    assert continued.refusals["GUARD_ERROR"] == 7
    assert (continued.check_seconds.le, continued.check_seconds.count) == (BUCKETS, 0)


def test_publisher_when_restarted_then_bucket_counts_continue_exactly(tmp_path: Path) -> None:
    """The per-bucket counts rebuilt from the cumulative file are the ones written."""
    path = tmp_path / "b.json"
    first = _publisher(path)
    for seconds in (0.0004, 0.003, 0.003, 0.3, 20.0):
        first.observe(seconds)
    first.publish(_guard(), None, NOW)
    written = read_guard_metrics(path).check_seconds

    _publisher(path).publish(_guard(), None, NOW)

    again = read_guard_metrics(path).check_seconds
    assert again == written
    assert again.total == pytest.approx(20.3064)


def test_flush_when_never_published_then_nothing_written(tmp_path: Path) -> None:
    """At exit a publisher that never saw a loop writes nothing (no guard, no state)."""
    path = tmp_path / "b.json"
    publisher = _publisher(path, clock=lambda: 5.0)
    publisher.observe(0.1)

    publisher.flush()

    assert not path.exists()


def test_flush_when_checks_since_the_last_loop_then_written_at_clock_time(tmp_path: Path) -> None:
    """At exit the checks and refusals since the last loop are written, stamped by the clock."""
    path = tmp_path / "b.json"
    publisher, guard = _publisher(path, clock=lambda: 12345.0), _guard()
    publisher.publish(guard, None, NOW)
    publisher.observe(0.1)
    guard.refusals["STALE_DATA"] = 2

    publisher.flush()

    got = read_guard_metrics(path)
    assert (got.updated, got.check_seconds.count, got.refusals["STALE_DATA"]) == (12345.0, 1, 2)


AT_EXIT = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from app.risk.breaker_view import MemoryBreakerView
from app.risk.guard import Guard, GuardMode
from app.risk.publish import GuardPublisher
from app.settings import load_settings
guard = Guard(load_settings({}, dotenv_path=None), mode=GuardMode.LIVE,
              breaker=MemoryBreakerView(), incidents=None, correlation_id="t")
publisher = GuardPublisher(Path(sys.argv[1]), bot="b", strategy="S", drawdown_limit=None,
                           loss_cap=None, tracks_streak=False)
publisher.publish(guard, None, datetime(2026, 1, 1, tzinfo=UTC))
publisher.observe(0.01)
guard.refusals["GUARD_ERROR"] = 3
"""


def test_publisher_when_process_exits_then_last_checks_flushed(tmp_path: Path) -> None:
    """A bot stopped between loops still publishes what it counted since the last loop."""
    path = tmp_path / "b.json"
    done = subprocess.run(
        [sys.executable, "-c", AT_EXIT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )

    assert done.returncode == 0, done.stderr
    got = read_guard_metrics(path)
    assert (got.check_seconds.count, got.refusals["GUARD_ERROR"]) == (1, 3)


def test_for_bot_when_built_from_settings_then_label_limits_and_streak_follow(
    tmp_path: Path,
) -> None:
    """The bot's file and figures follow its config and the RISK_* settings."""
    settings = load_settings(
        {
            "RISK_STATE_DIR": str(tmp_path / "state"),
            "RISK_MAX_DAILY_DRAWDOWN_PCT": "0.1",
            "RISK_LOSS_STREAK_MAX": "3",
        },
        dotenv_path=None,
    )

    publisher = GuardPublisher.for_bot(settings, {"bot_name": "desk one"}, "S")
    publisher.publish(_guard(), _account(), NOW)
    without = GuardPublisher.for_bot(load_settings({}, dotenv_path=None), {}, "Strat")

    got = read_guard_metrics(tmp_path / "state" / "guard" / "desk-one.json")
    assert (publisher.bot, publisher.strategy) == ("desk-one", "S")
    assert (got.daily_drawdown_limit_ratio, got.daily_loss_cap_ratio) == (0.1, None)
    assert got.daily_loss_ratio == pytest.approx(5 / 102)  # valued: a daily rule is on
    assert got.loss_streak == 2
    assert (without.bot, without.path.name) == ("Strat", "Strat.json")


# -- ROUND 3 OF MUTATION TESTING: what the survivors showed untested -------------------------


def test_snapshot_when_no_guard_seen_yet_then_state_active_and_counts_zero(tmp_path: Path) -> None:
    """Before its first loop a publisher's figures are those of a fresh guard: ACTIVE, no
    refusal, no check (never an error for want of a guard)."""
    got = _publisher(tmp_path / "b.json").snapshot(7.0)

    assert (got.state, got.updated, sum(got.refusals.values())) == ("ACTIVE", 7.0, 0)
    assert got.check_seconds.count == 0


def test_publish_when_guard_counts_a_reason_not_exported_from_start_then_counted_exactly(
    tmp_path: Path,
) -> None:
    """A reason outside the entry reasons (here a run-gate one) is still published with the
    guard's exact count, from zero."""
    path = tmp_path / "b.json"
    publisher, guard = _publisher(path), _guard()
    guard.refusals["MAX_DD_BLOCK"] = 2
    publisher.publish(guard, None, NOW)
    guard.refusals["MAX_DD_BLOCK"] = 5
    publisher.publish(guard, None, NOW)

    assert read_guard_metrics(path).refusals["MAX_DD_BLOCK"] == 5


def test_flush_when_the_clock_fails_at_exit_then_no_exception_and_warned(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """A flush that fails (here its clock raises) never raises out of the exit handler; the
    failure is logged like a loop's."""

    def broken_clock() -> float:
        raise RuntimeError("clock gone")

    publisher = _publisher(tmp_path / "b.json", clock=broken_clock)
    publisher.publish(_guard(), None, NOW)

    publisher.flush()

    errors = [r["error"] for r in risk_log() if r["message"] == "guard_metrics_unwritten"]
    assert errors == ["RuntimeError: clock gone"]


def test_publish_when_folder_cannot_be_created_then_warning_names_the_folder_error(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """The warning gives the real cause (the folder is a file), not a side error of cleaning
    up a temp file that was never made."""
    folder = tmp_path / "guard"
    folder.write_text("a file where the folder should be")

    assert _publisher(folder / "b.json").publish(_guard(), None, NOW) is False

    errors = [r["error"] for r in risk_log() if r["message"] == "guard_metrics_unwritten"]
    assert len(errors) == 1
    assert errors[0].startswith("FileExistsError") and str(folder) in errors[0]


def test_publisher_when_bot_and_strategy_given_by_position_then_refused(tmp_path: Path) -> None:
    """Bot label and strategy are both strings: they are keyword-only, so they cannot be
    swapped by position."""
    with pytest.raises(TypeError):
        GuardPublisher(tmp_path / "b.json", "b", "S", 0.08, 0.05, True)  # type: ignore[call-arg]


def test_publish_when_figures_cannot_be_written_as_json_then_false_never_raises(
    tmp_path: Path, risk_log: LogReader
) -> None:
    """Any failure, not only of the file system, costs the publication only: here two
    durations near the float limit add up to an infinite sum, which JSON cannot hold."""
    publisher = _publisher(tmp_path / "b.json")
    publisher.observe(1.7e308)
    publisher.observe(1.7e308)

    assert publisher.publish(_guard(), None, NOW) is False

    (error,) = [r["error"] for r in risk_log() if r["message"] == "guard_metrics_unwritten"]
    assert error.startswith("ValueError: Out of range float values")
    assert not (tmp_path / "b.json").exists()
