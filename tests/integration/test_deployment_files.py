"""Compose file, CI workflow, Dockerfile, configs and .env.example: valid and honest.

Docker cannot run here, so the files are validated against their published schemas
(check-jsonschema's vendored copies) and their promises are asserted one by one.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import KNOWN_VARIABLES
from tests.helpers import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
MUTATION_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "mutation.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
CONFIGS = REPO_ROOT / "user_data" / "configs"
SECRET_WORDS = re.compile(r"(key|secret|password|token|chat_id)", re.IGNORECASE)


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _service() -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"]["freqtrade"]
    return service


# -- COMPOSE ------------------------------------------------------------------------------


def test_compose_when_validated_then_matches_compose_spec() -> None:
    """docker-compose.yml validates against the Compose Specification schema."""
    result = _check_jsonschema("vendor.compose-spec", COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_validation_when_file_is_broken_then_fails(tmp_path: Path) -> None:
    """The schema check can fail: a service with an unknown key is rejected."""
    broken = _compose()
    broken["services"]["freqtrade"]["restart_policy_typo"] = "always"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))

    assert _check_jsonschema("vendor.compose-spec", path).returncode != 0


def test_compose_when_read_then_hardened() -> None:
    """No privilege escalation, no capabilities, read-only root, restart unless stopped."""
    service = _service()

    assert "no-new-privileges:true" in service["security_opt"]
    assert service["cap_drop"] == ["ALL"]
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]
    assert service["restart"] == "unless-stopped"


def test_compose_when_read_then_api_published_on_loopback_only() -> None:
    """Every published port is bound to 127.0.0.1."""
    ports = _service()["ports"]

    assert ports
    assert all(str(p).startswith("127.0.0.1:") for p in ports)


def test_compose_when_read_then_healthcheck_pings_freqtrade() -> None:
    """The healthcheck calls Freqtrade's ping endpoint on the API port."""
    check = " ".join(_service()["healthcheck"]["test"])

    assert "http://127.0.0.1:8080/api/v1/ping" in check


def test_compose_when_read_then_default_is_dry_run_with_testnet_config() -> None:
    """The default command paper-trades with config.testnet.json, which exists in user_data."""
    service = _service()
    command = service["command"]

    assert command[0] == "trade"
    assert "--dry-run" in command
    config = command[command.index("--config") + 1]
    assert config == "/freqtrade/user_data/configs/config.testnet.json"
    assert "./user_data:/freqtrade/user_data" in service["volumes"]
    assert (REPO_ROOT / config.removeprefix("/freqtrade/")).is_file()


def test_compose_when_read_then_no_secret_inline_and_env_file_used() -> None:
    """Secrets come from .env only; nothing secret-looking is written in the compose file."""
    service = _service()
    inline = service.get("environment", {})

    assert service["env_file"] == [".env"]
    assert not [name for name in inline if SECRET_WORDS.search(name)]
    # A value taken from .env by interpolation (${NAME...}) is not a secret written inline.
    text = re.sub(r"\$\{[^}]*\}", "${}", COMPOSE.read_text())
    assert not re.search(r"(?i)(api[_-]?key|secret|password)\s*[:=]\s*(?!\$\{)\S", text)


@pytest.mark.parametrize("command", ["backtesting", "hyperopt"])
def test_documented_compose_run_when_parsed_then_freqtrade_accepts_it(command: str) -> None:
    """The README's `docker compose run --rm freqtrade <cmd> ...` lines parse as Freqtrade args."""
    from freqtrade.commands import Arguments

    readme = (REPO_ROOT / "README.md").read_text()
    lines = [
        line.strip()
        for line in readme.splitlines()
        if line.strip().startswith(f"docker compose run --rm freqtrade {command} ")
    ]
    assert lines, f"README documents no `docker compose run --rm freqtrade {command}`"
    for line in lines:
        argv = shlex.split(line)[len(["docker", "compose", "run", "--rm", "freqtrade"]) :]
        parsed = Arguments(argv).get_parsed_arg()
        assert parsed["strategy"] == "MaCrossoverStrategy"
        for config in parsed["config"]:
            assert (REPO_ROOT / config.removeprefix("/freqtrade/")).is_file(), config


# -- COMPOSE: MONITORING PROFILE ----------------------------------------------------------

MONITORING = ("exporter", "prometheus", "alertmanager", "grafana")
CONFIG = REPO_ROOT / "config"


def _monitoring(name: str) -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"][name]
    return service


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_when_read_then_in_profile_hardened_and_loopback(name: str) -> None:
    """Each monitoring service: only in the `monitoring` profile, hardened like freqtrade
    (no new privileges, no capabilities, read-only root, a non-root user, limits), its
    ports on 127.0.0.1 only."""
    service = _monitoring(name)

    assert service["profiles"] == ["monitoring"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["cap_drop"] == ["ALL"]
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]
    assert not str(service["user"]).startswith("0")
    assert service["mem_limit"] and service["cpus"] and service["pids_limit"]
    assert service["restart"] == "unless-stopped"
    assert service["ports"] and all(str(p).startswith("127.0.0.1:") for p in service["ports"])


def test_monitoring_when_read_then_official_images_pinned_to_tested_versions() -> None:
    """Official images at exact versions; Prometheus and Alertmanager are the versions the
    tests run (Debian's 2.42 and 0.25); the exporter is the bundle's image."""
    images = {name: _monitoring(name)["image"] for name in MONITORING}

    assert images["exporter"] == _service()["image"]
    assert images["prometheus"] == "prom/prometheus:v2.42.0"
    assert images["alertmanager"] == "prom/alertmanager:v0.25.0"
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", images["grafana"])


def test_monitoring_when_read_then_prometheus_scrapes_exporter_by_service_name() -> None:
    """prometheus.yml scrapes exporter:9000 (the service and its port) and loads alerts.yml;
    the exporter listens on that port inside the compose network."""
    config = yaml.safe_load((CONFIG / "prometheus" / "prometheus.yml").read_text())
    exporter = _monitoring("exporter")

    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]  # fmt: skip
    assert targets == ["exporter:9000"]
    assert config["rule_files"] == ["alerts.yml"]
    assert exporter["entrypoint"] == ["tradingbot", "exporter"]
    assert exporter["command"][exporter["command"].index("--port") + 1] == "9000"
    assert "--allow-remote" in exporter["command"]
    assert "./config/prometheus:/etc/prometheus:ro" in _monitoring("prometheus")["volumes"]


def test_monitoring_when_read_then_data_on_named_volumes() -> None:
    """Prometheus, Alertmanager and Grafana keep their data on named volumes."""
    volumes = _compose()["volumes"]

    for name, target in (("prometheus", "/prometheus"), ("alertmanager", "/alertmanager"),
                         ("grafana", "/var/lib/grafana")):  # fmt: skip
        mounts = [v for v in _monitoring(name)["volumes"] if v.endswith(f":{target}")]
        assert len(mounts) == 1, (name, mounts)
        assert mounts[0].split(":")[0] in volumes


def test_monitoring_when_read_then_alertmanager_renders_its_template_from_env() -> None:
    """Alertmanager starts through render-config.sh with the Telegram values from .env;
    the token never appears in the compose file."""
    service = _monitoring("alertmanager")
    command = " ".join(service["command"])

    assert "render-config.sh /etc/tradingbot/alertmanager.yml /tmp/alertmanager.yml" in command
    assert "--config.file=/tmp/alertmanager.yml" in command
    assert "--cluster.listen-address=" in command
    assert service["environment"]["ALERTMANAGER_TELEGRAM_BOT_TOKEN"].startswith(
        "${ALERTMANAGER_TELEGRAM_BOT_TOKEN:?"
    )


def test_ci_when_read_then_prometheus_and_alertmanager_installed_when_missing() -> None:
    """.ci/run and the workflow install Debian's prometheus and prometheus-alertmanager."""
    script = (REPO_ROOT / ".ci" / "run").read_text()
    workflow = WORKFLOW.read_text()

    for package in ("prometheus", "prometheus-alertmanager"):
        assert re.search(rf"apt-get install[^\n]*\b{package}\b", script), package
        assert re.search(rf"apt-get install[^\n]*\b{package}\b", workflow), package
    assert "--profile monitoring config" in workflow


# -- DOCKERFILE ---------------------------------------------------------------------------


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _pins() -> dict[str, str]:
    pins = {}
    for spec in _pyproject()["project"]["dependencies"]:
        name, version = re.split(r"(?:\[[^\]]*\])?==", spec)
        pins[name.lower()] = version
    return pins


def test_dockerfile_when_read_then_freqtrade_image_matches_the_pin() -> None:
    """FROM uses the official image at exactly the Freqtrade version pinned in pyproject."""
    match = re.search(r"^FROM freqtradeorg/freqtrade:(\S+)$", DOCKERFILE.read_text(), re.M)

    assert match is not None
    assert match.group(1) == _pins()["freqtrade"]


def test_dockerfile_when_read_then_runner_is_the_entrypoint() -> None:
    """The container's entrypoint is the guarded runner."""
    assert 'ENTRYPOINT ["tradingbot", "freqtrade"]' in DOCKERFILE.read_text()


def _requirement_names(dist: str, seen: set[str]) -> set[str]:
    """``dist`` and everything it requires, transitively, as installed here."""
    name = dist.lower()
    if name in seen:
        return seen
    seen.add(name)
    for req in requires(dist) or []:
        if "extra ==" in req and "hyperopt" not in req:
            continue
        dep = re.split(r"[ ;<>=!~\[]", req, maxsplit=1)[0]
        try:
            _requirement_names(dep, seen)
        except Exception:
            continue
    return seen


def test_dockerfile_when_read_then_adds_exactly_what_freqtrade_lacks_at_our_pins() -> None:
    """Packages Freqtrade does not bring are installed in the image, at pyproject's pins."""
    provided = _requirement_names("freqtrade", set())
    missing = {n: v for n, v in _pins().items() if n.replace("_", "-") not in provided}
    missing.pop("freqtrade", None)
    pattern = r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([0-9][^\s\\\"]*)"
    docker_pins = dict(re.findall(pattern, DOCKERFILE.read_text()))

    assert missing
    for name, version in missing.items():
        assert docker_pins.get(name) == version, f"{name}=={version} not installed in the image"


# -- CI WORKFLOW --------------------------------------------------------------------------


def test_workflow_when_validated_then_matches_github_schema() -> None:
    """.github/workflows/ci.yml validates against the GitHub workflow schema."""
    result = _check_jsonschema("vendor.github-workflows", WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_when_read_then_make_test_on_311_312_and_compose_config() -> None:
    """CI runs `make test` on Python 3.11 and 3.12 and validates the compose file."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]

    assert jobs["test"]["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    assert any("make test" in step.get("run", "") for step in jobs["test"]["steps"])
    assert any("docker compose config" in step.get("run", "") for step in jobs["compose"]["steps"])


def test_mutation_workflow_when_validated_then_matches_github_schema() -> None:
    """.github/workflows/mutation.yml validates against the GitHub workflow schema."""
    result = _check_jsonschema("vendor.github-workflows", MUTATION_WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr


def test_mutation_workflow_validation_when_broken_then_fails(tmp_path: Path) -> None:
    """The schema check can fail: a job without runs-on is rejected."""
    broken = yaml.safe_load(MUTATION_WORKFLOW.read_text())
    del broken["jobs"]["mutate"]["runs-on"]
    path = tmp_path / "mutation.yml"
    path.write_text(yaml.safe_dump(broken))

    assert _check_jsonschema("vendor.github-workflows", path).returncode != 0


def _step(steps: list[dict[str, Any]], uses: str) -> dict[str, Any]:
    (step,) = [s for s in steps if s.get("uses", "").startswith(uses)]
    return step


def test_mutation_workflow_when_read_then_nightly_make_mutation_with_uploaded_report() -> None:
    """Nightly and on demand, on Python 3.11: `make mutation` per group, report uploaded."""
    workflow = yaml.safe_load(MUTATION_WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    mutate = workflow["jobs"]["mutate"]
    steps = mutate["steps"]

    assert re.fullmatch(r"[0-9]+ [0-9]+ \* \* \*", triggers["schedule"][0]["cron"])
    assert "workflow_dispatch" in triggers
    assert _step(steps, "actions/setup-python@")["with"]["python-version"] == "3.11"
    (make,) = [s for s in steps if "make mutation" in s.get("run", "")]
    assert 'MODULES="${{ matrix.modules }}"' in make["run"]
    assert make["env"]["TRADINGBOT_REQUIRE_SHARED_DATA"] == "1"
    upload = _step(steps, "actions/upload-artifact@")
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always()"
    assert "mutation/out/*.html" in upload["with"]["path"]
    summary_run = " ".join(s.get("run", "") for s in workflow["jobs"]["summary"]["steps"])
    assert "python -m mutation summary" in summary_run


def test_mutation_workflow_when_read_then_groups_cover_every_target_once() -> None:
    """The matrix groups select every module of mutation/targets.toml, none twice."""
    from mutation.targets import load_targets, select

    targets = load_targets()
    groups = yaml.safe_load(MUTATION_WORKFLOW.read_text())["jobs"]["mutate"]["strategy"]
    chosen = [
        target.module
        for group in groups["matrix"]["include"]
        for target in select(targets, group["modules"].split())
    ]

    assert sorted(chosen) == sorted(t.module for t in targets)


def test_ci_run_when_read_then_calls_the_readme_test_command() -> None:
    """.ci/run runs `make test`, the README's test command, and requires the shared data."""
    script = (REPO_ROOT / ".ci" / "run").read_text()
    readme = (REPO_ROOT / "README.md").read_text()

    assert "make test" in script
    assert "TRADINGBOT_REQUIRE_SHARED_DATA=1" in script
    assert "make test" in readme and "make demo" in readme


# -- CONFIGS AND ENVIRONMENT --------------------------------------------------------------

API_ENV = {
    "username": "tester",
    "password": "test-password",
    "jwt_secret_key": "x" * 40,
}


@pytest.mark.parametrize(
    "name", ["config.backtest.json", "config.testnet.json", "config.mainnet.json"]
)
def test_config_when_validated_by_freqtrade_then_accepted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shipped config passes Freqtrade's own schema and consistency validation."""
    from freqtrade.configuration import Configuration, validate_config_consistency

    for key, value in API_ENV.items():
        monkeypatch.setenv(f"FREQTRADE__API_SERVER__{key.upper()}", value)
    if name == "config.backtest.json":
        for key in API_ENV:
            monkeypatch.delenv(f"FREQTRADE__API_SERVER__{key.upper()}")

    config = Configuration.from_files([str(CONFIGS / name)])
    validate_config_consistency(config)  # what the bot and backtesting run at start-up

    assert config["exchange"]["name"] == "binance"
    assert config["dry_run"] is (name != "config.mainnet.json")


def test_config_validation_when_config_is_wrong_then_freqtrade_refuses(tmp_path: Path) -> None:
    """The validation above can fail: an invalid stake amount is refused."""
    from freqtrade.configuration import Configuration, validate_config_consistency
    from freqtrade.exceptions import ConfigurationError

    broken = tmp_path / "broken.json"
    text = (CONFIGS / "config.backtest.json").read_text()
    broken.write_text(text.replace('"stake_amount": 0.05', '"stake_amount": "lots"'))

    with pytest.raises(ConfigurationError):
        validate_config_consistency(Configuration.from_files([str(broken)]))


def test_configs_when_read_then_no_credentials_inside() -> None:
    """Exchange keys and API credentials are never written in a config file."""
    for path in CONFIGS.glob("*.json"):
        text = path.read_text()
        for match in re.finditer(
            r'"(key|secret|password|jwt_secret_key|token)"\s*:\s*"([^"]*)"', text
        ):
            assert match.group(2) == "", f"{path.name}: {match.group(1)} has a value"


def test_env_example_when_read_then_documents_every_variable_read() -> None:
    """Every RISK_* setting and every other variable the code reads is in .env.example."""
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    code = "\n".join(p.read_text() for p in (REPO_ROOT / "app").rglob("*.py"))
    read_by_code = set(re.findall(r"""environ(?:\.get)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", code))
    read_by_code |= set(re.findall(r"""getenv\(\s*["']([A-Z][A-Z0-9_]+)["']""", code))
    read_by_code |= set(re.findall(r'_ENV\s*=\s*"([A-Z][A-Z0-9_]+)"', code))
    freqtrade_needed = {
        "FREQTRADE__API_SERVER__USERNAME",
        "FREQTRADE__API_SERVER__PASSWORD",
        "FREQTRADE__API_SERVER__JWT_SECRET_KEY",
        "FREQTRADE__EXCHANGE__KEY",
        "FREQTRADE__EXCHANGE__SECRET",
    }

    assert documented >= KNOWN_VARIABLES
    standard = {"PYTEST_VERSION", "PYTEST_CURRENT_TEST", "USER", "HOME", "PATH"}
    assert (read_by_code - standard) <= documented
    assert freqtrade_needed <= documented


def test_env_example_when_read_then_only_placeholders() -> None:
    """No real-looking credential: secret-named values are placeholders."""
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z0-9_]+)=(.*)$", line)
        if match and SECRET_WORDS.search(match.group(1)):
            assert match.group(2).startswith("replace-with"), line
