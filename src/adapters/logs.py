"""Log lines: human text or one JSON object per line, with correlation fields, and never a secret.

One configuration (``logging_config``) serves CloudBay's loggers and uvicorn's alike: the root handler writes
to stderr through ``RedactSecrets`` and the chosen formatter; ``uvicorn``, ``uvicorn.error`` and
``uvicorn.access`` have no handler of their own and propagate to it. Correlation fields come from the context
variables of ``adapters.log_context``, read when the line is written (in the task that logs it).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import logging.config
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.log_context import message_id_var, request_id_var, station_id_var

LOG_FORMATS = ("text", "json")
REDACTED = "[redacted]"
#: field name in a JSON line → the context variable it is read from (also settable with ``extra={...}``)
CORRELATION = {"station_id": station_id_var, "ocpp_message_id": message_id_var, "request_id": request_id_var}
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_NAMES = r"(?:access_token|refresh_token|client_secret|password)"
_NOT_DONE = r"(?!\[redacted\])"  # redacting twice changes nothing
_SECRET_PARAMETER = re.compile(rf"(?P<keep>{_NAMES}(?:=|%3D)){_NOT_DONE}[^&\s\"'#;,)\]]+", re.IGNORECASE)
_SECRET_JSON_FIELD = re.compile(rf"(?P<keep>[\"']{_NAMES}[\"']\s*:\s*[\"']){_NOT_DONE}[^\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(?P<keep>\bBearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_URL_PASSWORD = re.compile(rf"(?P<keep>\b[a-z][a-z0-9+.-]*://[^:/@\s]+:){_NOT_DONE}[^@/\s]+(?=@)", re.IGNORECASE)
_AUTHORIZATION = re.compile(
    r"(?P<keep>\bauthorization[\"']?\s*[:=]\s*+[\"']?)(?!(?:Bearer\s+|Basic\s+)?\[redacted\])[^\"'\r\n]+",
    re.IGNORECASE,
)
_BASIC = re.compile(r"(?P<keep>\bBasic\s+)(?P<value>[A-Za-z0-9+/]{4,}={0,2})", re.IGNORECASE)


def _keep_name(match: re.Match[str]) -> str:
    return match.group("keep") + REDACTED


def _basic_credentials(match: re.Match[str]) -> str:
    """``Basic <base64 of id:secret>`` is redacted; ``Basic auth`` and other words are left alone."""
    try:
        decoded = base64.b64decode(match.group("value"), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return match.group(0)
    return match.group("keep") + REDACTED if ":" in decoded else match.group(0)


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_SECRET_PARAMETER, _keep_name),
    (_SECRET_JSON_FIELD, _keep_name),
    (_BEARER, _keep_name),
    (_JWT, lambda match: REDACTED),
    (_BASIC, _basic_credentials),
    (_URL_PASSWORD, _keep_name),
    (_AUTHORIZATION, _keep_name),  # a header value in any other scheme
)


def redact(text: str) -> str:
    """``text`` with every token, secret parameter and Basic credential it contains replaced by ``[redacted]``."""
    for pattern, replacement in _RULES:
        if pattern.search(text):
            text = pattern.sub(replacement, text)
    return text


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        text = value.decode("latin-1")
        cleaned = redact(text)
        return value if cleaned == text else cleaned.encode("latin-1")
    return value


class RedactSecrets(logging.Filter):
    """Applied to every handler: secrets leave a record's message, arguments and traceback before it is written.

    Arguments are redacted one by one (uvicorn's access line keeps its shape); whatever still carries a secret
    once formatted (an object whose ``repr`` holds a token) is replaced by the redacted message itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact_arg(value) for value in record.args)
        elif isinstance(record.msg, str):  # a template is left alone: `access_token=%s` must still format
            record.msg = redact(record.msg)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the line is formatted
            return True
        if redact(message) != message:
            record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def correlation(record: logging.LogRecord) -> dict[str, str]:
    """The correlation fields of a line that are set: ``extra={...}`` on the call, else the context variables."""
    fields: dict[str, str] = {}
    for name, variable in CORRELATION.items():
        value = getattr(record, name, None) or variable.get()
        if value:
            fields[name] = str(value)
    return fields


def rfc3339(created: float) -> str:
    """A record's time as RFC 3339 in UTC with milliseconds: ``2026-11-25T10:00:00.123Z``."""
    return datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, exception and stack when any, correlation."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        line.update(correlation(record))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The human format, ``<time> <LEVEL> <logger>: <message>``, then the correlation fields set, as ``k=v``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        text = super().formatMessage(record)
        fields = correlation(record)
        if not fields:
            return text
        return text + " " + " ".join(f"{name}={_text_value(value)}" for name, value in fields.items())


def _text_value(value: str) -> str:
    """A value as is when it is one plain word, else quoted (a station id cannot break a text line)."""
    return value if re.fullmatch(r"[\w.:@/-]+", value) else json.dumps(value)


def formatter_for(log_format: str) -> type[logging.Formatter]:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter if log_format == "json" else TextFormatter


def logging_config(log_level: str, log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (also uvicorn's ``log_config``) for the whole process."""
    level = log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,  # CloudBay's module-level loggers exist before this runs
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"cloudbay": {"()": formatter_for(log_format)}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "cloudbay",
                "filters": ["redact"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {name: {"level": level, "handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
    }


def configure(log_level: str, log_format: str) -> None:
    """Configure this process's logging; Python warnings become log lines too (one format on stderr)."""
    logging.config.dictConfig(logging_config(log_level, log_format))
    logging.captureWarnings(True)
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)  # our RPC layer logs protocol errors itself
