"""The redactor masks every known secret value and every context-recognised secret."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.redaction import MASK, Redactor, config_secret_values, is_secret_env

PASSWORD = "hunter2-Sup3r$ecret"


def test_env_secret_values_when_in_text_then_masked() -> None:
    """Values of secret variables (by name) are masked wherever they appear."""
    env = {
        "FREQTRADE__API_SERVER__PASSWORD": PASSWORD,
        "FREQTRADE__EXCHANGE__KEY": "AKIAexchangekey",
        "TELEGRAM_BOT_TOKEN": "tokenvalue-123",
        "HOME": "/root",
    }
    redactor = Redactor.from_sources(env)
    text = f"password {PASSWORD}, key AKIAexchangekey, token tokenvalue-123 in /root"

    out = redactor.redact(text)

    assert PASSWORD not in out and "AKIAexchangekey" not in out and "tokenvalue-123" not in out
    assert "/root" in out  # not a secret
    assert out.count(MASK) == 3


def test_config_secrets_when_printed_as_python_dict_then_masked() -> None:
    """Freqtrade prints a rejected config as a dict: every secret key's value is masked."""
    config = {
        "exchange": {"name": "binance", "key": "k-123456", "secret": "s-123456"},
        "api_server": {"enabled": True, "username": "operator1", "password": PASSWORD},
        "telegram": {"token": "123456:abcdef", "chat_id": "987654"},
        "webhook": {"url": "https://hooks.example/abc123"},
        "dry_run": True,
    }
    redactor = Redactor.from_sources({}, [config])

    out = redactor.redact(f"Config invalid: {config!r}\n{json.dumps(config)}")

    for secret in ("k-123456", "s-123456", "operator1", PASSWORD, "987654", "abc123"):
        assert secret not in out
    assert "binance" in out and "dry_run" in out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"password": "ab"}', "ab"),  # too short to search by value: masked by context
        ("{'jwt_secret_key': 'xy'}", "xy"),
        ("--password=pw1 next", "pw1"),
        ("api_key: k9 rest", "k9"),
        ("postgresql+psycopg://user:pgpass@db:5432/reg", "pgpass"),
        ("GET https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsa/x", "AAHdq"),
    ],
)
def test_context_when_secret_unknown_then_masked_by_its_key(text: str, secret: str) -> None:
    """Secrets no one told the redactor about are masked by what surrounds them."""
    out = Redactor().redact(text)

    assert secret not in out
    assert MASK in out


def test_redact_when_already_masked_then_unchanged() -> None:
    """Redacting twice gives the same text (no nested masks)."""
    redactor = Redactor.from_sources({"X_PASSWORD": PASSWORD})
    once = redactor.redact(f"password={PASSWORD} 'token': 'abc' https://u:p4ss@h/")

    assert redactor.redact(once) == once


@pytest.mark.parametrize(
    "text",
    ['{"secret": "REDACTED", "key": ""}', '{"password": ""}', "password=REDACTED", "'token': ''"],
)
def test_redact_when_value_empty_or_masked_by_freqtrade_then_unchanged(text: str) -> None:
    """Nothing to hide: Freqtrade's own "REDACTED" and empty values are left as they are."""
    assert Redactor().redact(text) == text


def test_redact_values_when_context_looks_secret_then_only_known_values_masked() -> None:
    """redact_values applies no context rule: data such as tags and order ids stay."""
    redactor = Redactor.from_sources({"X_PASSWORD": PASSWORD})
    text = f"tag token=abc123 order 42 note {PASSWORD}"
    assert redactor.redact_values(text) == f"tag token=abc123 order 42 note {MASK}"
    assert Redactor().redact_values(text) == text


def test_escaped_forms_when_value_has_quotes_then_masked() -> None:
    """JSON- and repr-escaped and URL-quoted forms of a value are masked too."""
    secret = 'pa"ss\\wo rd'
    redactor = Redactor.from_sources({"A_SECRET": secret})

    for form in (json.dumps(secret), repr(secret), "x=pa%22ss%5Cwo%20rd"):
        assert "ss" not in redactor.redact(form).replace("[REDACTED]", "")


def test_short_values_when_known_then_not_searched_by_value() -> None:
    """A 3-character value would mask ordinary text: only context catches it."""
    redactor = Redactor.from_sources({"A_PASSWORD": "abc"})

    assert redactor.redact("abcdef") == "abcdef"


def test_names_when_checked_then_secret_variables_recognised() -> None:
    """The variable-name rule: credentials yes, ordinary settings no."""
    secret = ["FREQTRADE__EXCHANGE__SECRET", "TELEGRAM_BOT_TOKEN", "RISK_DB_URL", "MY_API_KEY"]
    plain = ["RISK_STATE_DIR", "HOME", "TELEGRAM_CHAT_ID", "FREQTRADE__EXCHANGE__NAME"]

    assert all(is_secret_env(n) for n in secret)
    assert not any(is_secret_env(n) for n in plain)


def test_config_values_when_url_outside_webhook_then_not_secret() -> None:
    """``url`` is a secret in the webhook section only; ``username`` in api_server only."""
    config = {"webhook": {"url": "https://h/secret"}, "exchange": {"url": "https://x"}}

    assert config_secret_values(config) == {"https://h/secret"}


def test_bytes_when_not_utf8_then_kept_and_secret_masked() -> None:
    """Undecodable bytes pass through unchanged; secrets in them are still masked."""
    redactor = Redactor.from_sources({"A_TOKEN": "tok-4567"})

    out = redactor.redact_bytes(b"\xff\xfe tok-4567 \x80")

    assert out == b"\xff\xfe " + MASK.encode() + b" \x80"


_SECRETS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=4)


@settings(max_examples=200, deadline=None)
@given(secret=_SECRETS, before=st.text(), after=st.text())
def test_known_value_when_anywhere_in_text_then_never_left(
    secret: str, before: str, after: str
) -> None:
    """Property: a known secret never survives, whatever text surrounds it."""
    redactor = Redactor.from_sources({}, extra=[secret])

    out = redactor.redact(before + secret + after)

    assert secret not in out.replace(MASK, "\x00")


@pytest.mark.parametrize(
    "text",
    [
        "PASSWORD=hunter22",  # upper case
        "pa\u017f\u017fword=hunter22",  # long s, which re.IGNORECASE matches to 's'
        "\u0130nvalid api_key: hunter22",  # dotted capital I before the key
        '{"Private_Key": "hunter22"}',
        "see https://user:hunter22@host/x",
        "bot123456:" + "A" * 35,
    ],
)
def test_context_rules_when_text_has_a_key_in_any_case_then_still_masked(text: str) -> None:
    """The cheap pre-checks in front of the context rules never skip a secret they catch."""
    out = Redactor().redact(text)

    assert "hunter22" not in out and "A" * 35 not in out
    assert MASK in out


_FRAGMENTS = st.sampled_from(
    ["PaSsWoRd", "pa\u017f\u017fwd", "\u0130", "secret", "TOKEN", "api_key", "private_key",
     "webhook_url", "=", ": ", '"', "'", " ", "://", "u:", "@", "bot", "123456:", "A" * 30,
     "hunter22", ",", "}"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(text=st.lists(_FRAGMENTS | st.text(max_size=4), max_size=12).map("".join))
def test_context_rules_when_arbitrary_text_then_same_as_without_pre_checks(text: str) -> None:
    """For any text, redaction equals the four context rules applied unconditionally."""
    from app.redaction import _ASSIGNED, _BOT_TOKEN, _QUOTED, _URL_CREDENTIALS, _mask_group

    expected = text
    for rule in (_QUOTED, _URL_CREDENTIALS, _BOT_TOKEN, _ASSIGNED):
        expected = rule.sub(_mask_group, expected)

    assert Redactor().redact(text) == expected
