"""Correlation fields for log lines: set where the work starts, read by the log formatter.

Context variables are inherited by tasks created after they are set, so a value set when a charger's session
starts is seen by its worker and after-tasks too.
"""

from __future__ import annotations

from contextvars import ContextVar

station_id_var: ContextVar[str | None] = ContextVar("cloudbay_station_id", default=None)
message_id_var: ContextVar[str | None] = ContextVar("cloudbay_ocpp_message_id", default=None)
request_id_var: ContextVar[str | None] = ContextVar("cloudbay_request_id", default=None)
