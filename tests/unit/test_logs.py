"""Log lines: the JSON and text formatters, correlation fields, the secret filter, the process configuration."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.log_context import message_id_var, request_id_var, station_id_var
from adapters.logs import (
    UVICORN_LOGGERS,
    JsonFormatter,
    RedactSecrets,
    TextFormatter,
    configure,
    formatter_for,
    logging_config,
    redact,
    rfc3339,
)
from adapters.settings import Settings, SettingsError
from services.platform import Platform

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJvcHNAZXhhbXBsZS5jb20ifQ.c2lnbmF0dXJlLWJ5dGVz_-x"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(
    msg: str = "hello %s", args: Any = ("world",), name: str = "cloudbay.test", **extra: Any
) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def filtered(made: logging.LogRecord) -> logging.LogRecord:
    assert RedactSecrets().filter(made) is True  # never drops a line
    return made


@pytest.fixture
def correlated() -> Iterator[None]:
    tokens = [station_id_var.set("CB-1"), message_id_var.set("msg-7"), request_id_var.set("req-9")]
    try:
        yield
    finally:
        for variable, token in zip((station_id_var, message_id_var, request_id_var), tokens, strict=True):
            variable.reset(token)


# --- JSON lines -------------------------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_and_message_and_no_unset_field() -> None:
    line = json.loads(JsonFormatter().format(record()))

    assert set(line) == {"time", "level", "logger", "message"}
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "cloudbay.test", "hello world")
    assert RFC3339_UTC.fullmatch(line["time"]), line["time"]


def test_the_time_is_rfc3339_in_utc() -> None:
    assert rfc3339(0.0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(datetime(2026, 11, 25, 10, 0, 0, 250_000, tzinfo=UTC).timestamp()) == "2026-11-25T10:00:00.250Z"


@pytest.mark.usefixtures("correlated")
def test_a_json_line_carries_the_correlation_fields_that_are_set() -> None:
    line = json.loads(JsonFormatter().format(record()))

    assert (line["station_id"], line["ocpp_message_id"], line["request_id"]) == ("CB-1", "msg-7", "req-9")


def test_a_field_given_with_extra_is_used_when_no_context_variable_is_set() -> None:
    line = json.loads(JsonFormatter().format(record(station_id="CB-2")))

    assert line["station_id"] == "CB-2" and "request_id" not in line


def test_a_json_line_carries_the_exception_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        made = logging.LogRecord("cloudbay", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    line = json.loads(JsonFormatter().format(made))

    assert line["message"] == "failed"
    assert "Traceback" in line["exception"] and "ValueError: boom" in line["exception"]


def test_a_message_with_newlines_and_quotes_stays_one_line() -> None:
    text = JsonFormatter().format(record('a "quoted"\nsecond line %s', ("é",)))

    assert "\n" not in text and json.loads(text)["message"] == 'a "quoted"\nsecond line é'


# --- text lines -------------------------------------------------------------------------------------


def test_a_text_line_is_the_human_format() -> None:
    text = TextFormatter().format(record())

    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO cloudbay.test: hello world", text), text


@pytest.mark.usefixtures("correlated")
def test_a_text_line_ends_with_the_correlation_fields() -> None:
    text = TextFormatter().format(record())

    assert text.endswith("hello world station_id=CB-1 ocpp_message_id=msg-7 request_id=req-9")


def test_an_odd_value_is_quoted_in_a_text_line() -> None:
    text = TextFormatter().format(record(station_id="CB 1\nforged line"))

    assert text.endswith('station_id="CB 1\\nforged line"') and "\n" not in text


def test_the_format_is_chosen_by_name() -> None:
    assert formatter_for("json") is JsonFormatter and formatter_for("text") is TextFormatter
    with pytest.raises(ValueError, match="text, json"):
        formatter_for("xml")


# --- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"GET /api/v1/live?charger=CB-1&access_token={JWT}",
            "GET /api/v1/live?charger=CB-1&access_token=[redacted]",
        ),
        ("/api/v1/live?access_token=opaque-token&charger=CB-1", "/api/v1/live?access_token=[redacted]&charger=CB-1"),
        ("Authorization: Bearer opaque.token-1", "Authorization: Bearer [redacted]"),
        (f"token {JWT} issued", "token [redacted] issued"),
        (
            "grant_type=client_credentials&client_secret=s3cr3t&client_id=a",
            "grant_type=client_credentials&client_secret=[redacted]&client_id=a",
        ),
        ('{"access_token": "tok", "token_type": "Bearer"}', '{"access_token": "[redacted]", "token_type": "Bearer"}'),
        (
            f"Authorization: Basic {base64.b64encode(b'ops@example.com:s3cr3t').decode()}",
            "Authorization: Basic [redacted]",
        ),
        ("authorization: Token xyz", "authorization: [redacted]"),
        ("postgresql://postgres:hunter2@db:5432/cloudbay", "postgresql://postgres:[redacted]@db:5432/cloudbay"),
        ("Basic auth is not enforced yet", "Basic auth is not enforced yet"),
        ("station CB-1 connected (session 0123abcd)", "station CB-1 connected (session 0123abcd)"),
        ('{"id_token": "04A1B2C3", "type": "ISO14443"}', '{"id_token": "04A1B2C3", "type": "ISO14443"}'),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # redacting twice changes nothing


def test_uvicorns_access_line_keeps_its_arguments_with_the_token_redacted() -> None:
    args = ("127.0.0.1:5000", "GET", f"/api/v1/live?charger=X&access_token={JWT}", "1.1", 101)
    made = filtered(record('%s - "%s %s HTTP/%s" %d', args, name="uvicorn.access"))

    assert isinstance(made.args, tuple) and made.args[2] == "/api/v1/live?charger=X&access_token=[redacted]"
    assert made.getMessage() == '127.0.0.1:5000 - "GET /api/v1/live?charger=X&access_token=[redacted] HTTP/1.1" 101'


def test_secrets_in_the_message_and_in_mapping_arguments_are_redacted() -> None:
    assert filtered(record(f"header Bearer {JWT}", ())).getMessage() == "header Bearer [redacted]"
    made = filtered(record("asked with %(query)s", ({"query": "access_token=abc"},)))
    assert made.getMessage() == "asked with access_token=[redacted]"


def test_a_template_naming_a_secret_still_formats_with_its_argument_redacted() -> None:
    made = filtered(record("asked for ?access_token=%s&charger=%s", ("t0k", "CB-1")))

    assert made.getMessage() == "asked for ?access_token=[redacted]&charger=CB-1"


def test_a_secret_in_an_objects_repr_is_redacted_from_the_line() -> None:
    class Request:
        def __repr__(self) -> str:
            return f"<Request headers={{'authorization': 'Bearer {JWT}'}}>"

    made = filtered(record("got %r", (Request(),)))

    assert JWT not in made.getMessage() and "Bearer [redacted]" in made.getMessage()


def test_a_secret_in_an_exception_is_redacted_from_its_traceback() -> None:
    try:
        raise RuntimeError(f"cannot verify {JWT}")
    except RuntimeError:
        made = logging.LogRecord("cloudbay", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    text = JsonFormatter().format(filtered(made))

    assert JWT not in text and "cannot verify [redacted]" in json.loads(text)["exception"]


def test_bytes_arguments_are_redacted_too() -> None:
    made = filtered(record("%r", (b"authorization: Bearer abc",)))

    assert made.getMessage() == "b'authorization: Bearer [redacted]'"


# --- the process configuration ------------------------------------------------------------------------


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever a test configures, the test process's logging is as it was afterwards."""
    names = ["", *UVICORN_LOGGERS]
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in names}
    propagate = {name: logging.getLogger(name).propagate for name in UVICORN_LOGGERS}
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for name, (handlers, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
        for name, value in propagate.items():
            logging.getLogger(name).propagate = value


@pytest.mark.usefixtures("restored_logging")
def test_cloudbay_and_uvicorn_loggers_write_json_through_the_redacting_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    existing = logging.getLogger("cloudbay.already.created")

    configure("info", "json")
    existing.info("station %s connected", "CB-1")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "c", "GET", "/x?access_token=t0k", "1.1", 200)
    logging.getLogger("uvicorn.error").debug("below the level")

    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == ["cloudbay.already.created", "uvicorn.access"]
    assert lines[1]["message"] == 'c - "GET /x?access_token=[redacted] HTTP/1.1" 200'
    assert "t0k" not in stream.getvalue()


def test_the_configuration_routes_uvicorn_to_the_root_handler() -> None:
    config = logging_config("warning", "text")

    assert config["disable_existing_loggers"] is False
    assert config["root"] == {"level": "WARNING", "handlers": ["stderr"]}
    assert config["handlers"]["stderr"]["filters"] == ["redact"]
    for name in UVICORN_LOGGERS:
        assert config["loggers"][name] == {"level": "WARNING", "handlers": [], "propagate": True}


def test_the_log_format_setting_defaults_to_text_and_is_checked() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"CLOUDBAY_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError, match="CLOUDBAY_LOG_FORMAT must be 'text' or 'json'"):
        Settings.from_env({"CLOUDBAY_LOG_FORMAT": "JSONL"})


def test_a_store_call_runs_in_the_callers_context() -> None:
    """Lines logged in a store thread (``Platform.run``) carry the correlation fields of the caller."""
    platform = Platform.from_env({"PERSISTENCE_MODULE": "eventsourcing.popo"})

    async def as_a_charger_session() -> str | None:
        station_id_var.set("CB-7")
        return await platform.run(station_id_var.get)

    try:
        assert asyncio.run(as_a_charger_session()) == "CB-7"
    finally:
        platform.close()
