"""The compose file's ``sweep`` profile: Dask services on the bundle's image, hardened."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


@pytest.mark.parametrize("name", ["dask-scheduler", "dask-worker"])
def test_sweep_service_when_read_then_bundle_image_in_sweep_profile_and_hardened(
    name: str,
) -> None:
    """Same image as the bot, only with --profile sweep, hardened like the bot's service."""
    services = _services()
    service, bot = services[name], services["freqtrade"]

    assert service["image"] == bot["image"]
    assert service["profiles"] == ["sweep"]
    assert service["security_opt"] == bot["security_opt"]
    assert service["cap_drop"] == ["ALL"]
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]
    assert "env_file" not in service  # a worker needs no secrets: jobs bring their inputs
    assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", []))


def test_sweep_services_when_read_then_worker_joins_the_scheduler_one_job_at_a_time() -> None:
    """The worker connects to the scheduler service, one thread, cache on a volume."""
    services = _services()
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]

    assert scheduler["entrypoint"] == ["dask", "scheduler"]
    assert "127.0.0.1:8786:8786" in scheduler["ports"]
    assert worker["entrypoint"] == ["dask", "worker"]
    assert worker["command"][0] == "tcp://dask-scheduler:8786"
    assert worker["command"][worker["command"].index("--nthreads") + 1] == "1"
    cache = worker["environment"]["TRADINGBOT_SWEEP_CACHE_DIR"]
    assert any(v.endswith(f":{cache}") for v in worker["volumes"])
