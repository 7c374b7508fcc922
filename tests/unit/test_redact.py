"""Secret values never reach a log line."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from orchestrator.redact import REDACTED, clear_secrets, redact_secrets, register_secret

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACD1bWJ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5AAAAkH8sQ9F\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.fixture(autouse=True)
def _clean_registry():
    clear_secrets()
    yield
    clear_secrets()


def test_registered_value_is_replaced_everywhere():
    """A registered secret is replaced in strings, nested dicts, lists and tuples."""
    register_secret("hunter2-token")
    event = {
        "event": "login with hunter2-token",
        "nested": {"args": ["x", "hunter2-token"]},
        "t": ("hunter2-token",),
    }
    out = redact_secrets(None, "info", event)
    assert out == {"event": f"login with {REDACTED}", "nested": {"args": ["x", REDACTED]}, "t": (REDACTED,)}


def test_pem_private_key_is_replaced_even_unregistered():
    """Any PEM private key block is redacted, registered or not."""
    out = redact_secrets(None, "error", {"event": "bad key", "error": f"could not load {KEY} (format)"})
    assert "PRIVATE KEY" not in out["error"] and "b3BlbnNz" not in out["error"]
    assert out["error"].startswith("could not load [REDACTED]")


def test_a_line_of_a_registered_key_is_replaced():
    """A partial echo of a registered multi-line secret (one line of the key) is caught too."""
    register_secret(KEY)
    line = KEY.splitlines()[2]
    out = redact_secrets(None, "info", {"event": f"parse error near {line}"})
    assert line not in out["event"]


def test_non_strings_and_unregistered_text_pass_through():
    """Numbers and ordinary text are left alone."""
    register_secret("s3cr3t-value")
    event = {"event": "scaled", "desired": 40, "ok": True, "detail": "nothing secret"}
    assert redact_secrets(None, "info", event) == event


def test_very_short_values_are_not_registered():
    """Registering a 2-character value does not shred every log line containing it."""
    register_secret("ab")
    assert redact_secrets(None, "info", {"event": "about"}) == {"event": "about"}


def test_processor_in_a_structlog_chain():
    """Wired as a processor, the rendered event never holds the secret."""
    register_secret("pa55word-xyz")
    structlog.configure(processors=[redact_secrets, structlog.testing.LogCapture()])
    try:
        with capture_logs(processors=[redact_secrets]) as logs:
            structlog.get_logger().info("connecting", password="pa55word-xyz")
    finally:
        structlog.reset_defaults()
    assert logs[0]["password"] == REDACTED
