"""config/prometheus/alerts.yml: the issue's table, proven with the real promtool.

``promtool check rules`` and ``promtool test rules config/prometheus/alerts_test.yml``
(one firing case and near misses per alert) run here, so ``make test`` covers them.
Prometheus 2.42 comes from Debian's ``prometheus`` package (.ci/run installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO_ROOT

RULES_DIR = REPO_ROOT / "config" / "prometheus"
RUNBOOK = REPO_ROOT / "docs" / "RUNBOOK.md"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: apt-get install prometheus"
)

# The issue's table: alert -> (for, severity).
TABLE = {
    "CircuitBreakerActive": ("1m", "warning"),
    "BotDown": ("2m", "page"),
    "BotLoopStalled": ("2m", "page"),
    "HighStageLatency": ("5m", "page"),
    "RiskCooldownTooLong": ("30m", "warning"),
    "DrawdownNearLimit": ("10m", "warning"),
    "DailyLossCapReached": (None, "warning"),
    "GuardErrors": (None, "page"),
    "CriticalIncident": (None, "page"),
    "BackupTooOld": ("10m", "warning"),
    "ExporterSourceDown": ("5m", "warning"),
}
BOT_ALERTS = {"BotDown", "BotLoopStalled", "HighStageLatency", "RiskCooldownTooLong",
              "DrawdownNearLimit", "DailyLossCapReached", "GuardErrors"}  # fmt: skip


def _promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _rules() -> list[dict[str, object]]:
    data = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_rules_when_checked_by_promtool_then_valid() -> None:
    """`promtool check rules` accepts the file with its 11 rules."""
    result = _promtool("check", "rules", "alerts.yml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_rules_when_unit_tested_by_promtool_then_every_case_passes() -> None:
    """`promtool test rules alerts_test.yml`: every firing case fires, no near miss does."""
    result = _promtool("test", "rules", "alerts_test.yml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_tests_when_every_alert_then_fires_once_and_has_near_miss() -> None:
    """The tests file has, per alert, a case where it fires and one where it must not."""
    tests = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]

    for alert in TABLE:
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert} never fires in the tests"
        assert any(not case["exp_alerts"] for case in mine), f"{alert} has no near miss"


@pytest.mark.parametrize(
    ("old", "new"),
    [("> 300", "> 600"), ("for: 30m", "for: 40m"), ("> 0.9 *", "> 0.95 *"),
     ('severity="critical"', 'severity="error"'), ("26 * 3600", "25 * 3600")],
)  # fmt: skip
def test_rule_tests_when_a_rule_is_changed_then_they_fail(
    tmp_path: Path, old: str, new: str
) -> None:
    """The promtool tests can fail: a changed threshold or duration is caught."""
    text = (RULES_DIR / "alerts.yml").read_text()
    assert old in text
    (tmp_path / "alerts.yml").write_text(text.replace(old, new, 1))
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path)

    result = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)

    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_rules_when_read_then_exactly_the_issue_table() -> None:
    """Names, `for` durations and severities are the contract of the issue."""
    got = {
        rule["alert"]: (rule.get("for"), rule["labels"]["severity"])  # type: ignore[index]
        for rule in _rules()
    }

    assert got == TABLE


def test_rules_when_read_then_summary_description_and_runbook_anchor() -> None:
    """Every alert has a summary, a description and a runbook_url whose anchor exists."""
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"] and annotations["description"], rule["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/RUNBOOK.md"
        assert anchor == str(rule["alert"]).lower()
        assert anchor in anchors, f"no '{rule['alert']}' heading in docs/RUNBOOK.md"


def test_bot_alerts_when_read_then_summary_names_the_bot() -> None:
    """Alerts about one bot keep its `bot` label and say which bot."""
    for rule in _rules():
        summary = rule["annotations"]["summary"]  # type: ignore[index]
        assert ("$labels.bot" in summary) == (rule["alert"] in BOT_ALERTS), rule["alert"]
