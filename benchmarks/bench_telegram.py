"""Telegram messages: how fast an event reaches the chat, and what they cost a bot loop.

1. **Event to sendMessage from a CLI.** ``scripts/circuit_breaker.py enable`` /
   ``disable`` run as real processes (alternating), Telegram being the local fake Bot API.
   Latency = the fake's receipt of the message minus the ``ts`` of the CLI's
   ``circuit_breaker_*`` log line: median and p99 (aim: p99 <= 2 s). Beside it, the CLI's
   whole run time with Telegram on vs off (runs alternate; ratio of medians).
2. **A bot loop with Telegram down vs off.** One loop = what ``bot_loop_start`` and three
   entry checks ask of a live guard; every 50th loop starts a loss-streak cooldown and the
   next ends it (two ``risk_state_changed`` events, i.e. messages). With Telegram *down*
   (connection refused) the notification handler queues them, the background thread
   writes the outbox and fails to send; with Telegram *off* there is no handler. Blocks
   of loops alternate between the two; ratio of median loop work times (aim <= 1.01).
   Measured twice: loops every 20 ms (an event pair per second -- far more than a real
   bot, whose loop runs every few seconds and whose events come a few times a day), and
   back to back (an event pair every ~3 ms: the background thread never rests and
   competes for the GIL; a stress case, not a bot).

    .venv/bin/python benchmarks/bench_telegram.py [--cli-runs 20] [--loops 2000 --blocks 6]
        [--pace-ms 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from app.circuit_breaker import BreakerState, BreakerStatus  # noqa: E402
from app.logs import configure_logging  # noqa: E402
from app.registry import Registry  # noqa: E402
from app.registry.outbox import Outbox  # noqa: E402
from app.risk.breaker_view import MemoryBreakerView  # noqa: E402
from app.risk.guard import Guard, GuardMode  # noqa: E402
from app.risk.snapshot import AccountSnapshot, EntryRequest, OpenPosition  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.telegram.hook import NotificationHandler  # noqa: E402
from app.telegram.notifier import Notifier  # noqa: E402
from app.telegram.settings import load_telegram_settings  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.helpers import clean_env  # noqa: E402

TOKEN = "987654321:AAFbenchmarkTokenOfTheOpsBot1234567"
BREAKER = REPO_ROOT / "scripts" / "circuit_breaker.py"


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# -- 1. A CLI's event to sendMessage ---------------------------------------------------------


def bench_cli(runs: int) -> None:
    latencies: list[float] = []
    wall = {"on": [], "off": []}  # type: dict[str, list[float]]
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram({TOKEN}) as tg:
        project = Path(tmp)
        for n in range(runs * 2):
            side = "on" if n % 2 == 0 else "off"
            # A chat per run: the breaker's rate limit (3 per minute and chat) must not hold
            # back the message being timed.
            on = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": str(1000 + n),
                  "TELEGRAM_API_URL": tg.url}  # fmt: skip
            verb = ["enable", "--reason", f"bench {n}"] if n % 4 < 2 else ["disable"]
            before = len(tg.messages)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, str(BREAKER), *verb], cwd=project,
                env=clean_env(on if side == "on" else {}), capture_output=True, text=True,
                check=True,
            )  # fmt: skip
            wall[side].append(time.perf_counter() - start)
            if side == "off":
                continue
            event = next(
                json.loads(line)
                for line in done.stderr.splitlines()
                if '"circuit_breaker_' in line and '"message": "circuit_breaker_' in line
            )
            sent = tg.messages[before:]
            assert len(sent) == 1, f"run {n}: {len(sent)} messages"
            latencies.append(sent[0].at - _ts(event["ts"]))
    median, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    print(
        f"CLI event -> sendMessage ({len(latencies)} runs): median {median * 1000:6.0f} ms  "
        f"p99 {p99 * 1000:6.0f} ms  (aim p99 <= 2000 ms)"
    )
    on_m, off_m = statistics.median(wall["on"]), statistics.median(wall["off"])
    print(
        f"circuit_breaker.py run time: Telegram on {on_m:5.2f} s, off {off_m:5.2f} s "
        f"(x{on_m / off_m:4.2f})"
    )


# -- 2. A bot loop, Telegram down vs off ----------------------------------------------------


def _snapshot(now: datetime, streak: int) -> AccountSnapshot:
    return AccountSnapshot.build(
        taken_at=now,
        breaker=BreakerState(BreakerStatus.INACTIVE, Path("<bench>")),
        wallet=1.0,
        open_positions=[OpenPosition(p, 0.05) for p in ("ADA/BTC", "ETC/BTC", "LTC/BTC")],
        realised_today=-0.002,
        unrealised=-0.001,
        day_peak_equity=1.0,
        loss_streak=streak,
        last_loss_at=now,
    )


def _loop_block(guard: Guard, loops: int, start: datetime, pace_s: float) -> float:
    """Median seconds of work per loop over ``loops`` loops (events every 50th loop).

    With ``pace_s`` each loop starts ``pace_s`` after the previous one (Freqtrade's
    throttle, much shortened); only the loop's own work is timed.
    """
    entry = EntryRequest(pair="ETH/BTC", side="long", rate=0.1, stake=0.05, timeframe_sec=300)
    calm = _snapshot(start, 0)
    clock = time.perf_counter
    work: list[float] = []
    for i in range(loops):
        began = clock()
        now = start + timedelta(seconds=i)
        # A cooldown starts every 50th loop (the next loop ends it): two state changes.
        account = _snapshot(now, 5) if i % 50 == 0 else calm
        guard.evaluate_account(account, now)
        for _ in range(3):
            guard.check_entry(account, entry, now)
        spent = clock() - began
        work.append(spent)
        if pace_s > spent:
            time.sleep(pace_s - spent)
    return statistics.median(work)


def bench_loop(loops: int, blocks: int, pace_s: float) -> None:
    env = {
        "RISK_LIVE_MAX_CONCURRENT_TRADES": "10",
        "RISK_MAX_EXPOSURE_PCT": "0.9",
        "RISK_LOSS_STREAK_MAX": "3",
        "RISK_SESSION_COOLDOWN_MINUTES": "1",
    }
    settings = load_settings(env, dotenv_path=None)
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram({TOKEN}) as tg:
        log_file = Path(tmp) / "risk.jsonl"
        root = configure_logging(log_file=log_file, to_stderr=False)
        plain = list(root.handlers)
        tg_settings = load_telegram_settings(
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "42", "TELEGRAM_API_URL": tg.url},
            None,
        )
        outbox = Outbox(Registry(f"sqlite:///{Path(tmp) / 'registry.sqlite'}"))
        outbox.counts()  # migrate before timing
        notifier = Notifier(tg_settings, opener=lambda: outbox)
        handler = NotificationHandler(notifier)
        tg.down()
        guard = Guard(
            settings,
            mode=GuardMode.LIVE,
            breaker=MemoryBreakerView(),
            incidents=None,
            correlation_id="bench",
        )
        root.handlers = [*plain, handler]  # the translator learns that this guard is live
        logging.getLogger("tradingbot.bench").info(
            "guard_started", extra={"correlation_id": "bench", "mode": "live", "strategy": "B"}
        )
        times = {"down": [], "off": []}  # type: dict[str, list[float]]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        _loop_block(guard, loops // 4, start, pace_s)  # warm-up
        for block in range(blocks * 2):
            side = "down" if block % 2 == 0 else "off"
            root.handlers = [*plain, handler] if side == "down" else list(plain)
            start += timedelta(days=1)
            times[side].append(_loop_block(guard, loops, start, pace_s))
        root.handlers = list(plain)
        notifier.flush(timeout=60)
        notifier.close()
        counts = outbox.counts()
    down, off = statistics.median(times["down"]), statistics.median(times["off"])
    rate = f"a loop every {pace_s * 1000:.0f} ms" if pace_s else "loops back to back"
    print(
        f"bot loop ({loops} loops x {blocks} blocks each side, {rate}, an event pair every "
        f"50 loops): Telegram down {down * 1e6:7.1f} us/loop, off {off * 1e6:7.1f} us/loop "
        f"(x{down / off:5.3f}; aim <= 1.01); outbox afterwards: {counts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli-runs", type=int, default=20)
    parser.add_argument("--loops", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument(
        "--pace-ms", type=float, default=20.0, help="start a loop every N ms (0: back to back)"
    )
    args = parser.parse_args()
    bench_cli(args.cli_runs)
    bench_loop(args.loops, args.blocks, args.pace_ms / 1000)
    bench_loop(args.loops, args.blocks, 0.0)


if __name__ == "__main__":
    main()
