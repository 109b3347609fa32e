"""The compose service of `tradingbot telegram`: profile ops, hardened, no published port."""

from __future__ import annotations

from typing import Any

import yaml

from tests.helpers import REPO_ROOT


def _services() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = data["services"]
    return services


def test_compose_when_read_then_telegram_service_in_profile_ops_runs_the_service() -> None:
    """`docker compose --profile ops up telegram` runs `tradingbot telegram` on the bundle's
    image with the project's user_data (outbox, breaker, configs) and the .env settings."""
    services = _services()
    telegram = services["telegram"]

    assert telegram["profiles"] == ["ops"]
    assert telegram["entrypoint"] == ["tradingbot", "telegram"]
    assert telegram["command"] == []
    assert telegram["image"] == services["freqtrade"]["image"]
    assert "./user_data:/freqtrade/user_data" in telegram["volumes"]
    assert telegram["env_file"] == [".env"]


def test_compose_when_read_then_telegram_service_hardened_like_freqtrade() -> None:
    """Same hardening as the bot's service, and no port at all."""
    services = _services()
    telegram, freqtrade = services["telegram"], services["freqtrade"]

    for key in ("security_opt", "cap_drop", "read_only", "tmpfs", "restart", "logging"):
        assert telegram[key] == freqtrade[key], key
    assert "ports" not in telegram
