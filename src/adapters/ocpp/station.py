"""The CSMS side of one charger's OCPP 2.0.1 session: each @on handler turns a message into a command.

Handlers are short: parse what the domain needs, run the command in the store's worker threads, answer.
A charger's messages are handled one after another (the RPC layer awaits each handler), so a station's
events are stored in the order it sent them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action, DataTransferStatusEnumType, RegistrationStatusEnumType

from adapters.ocpp.charging import ChargingHandlers
from adapters.ocpp.rpc import SpecChargePoint
from adapters.ocpp.time import ocpp_time, parse_time, utcnow
from cloudbay_domain.charger import ConnectorStatus
from services.platform import CloudBay

log = logging.getLogger("cloudbay.ocpp")

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]
DataTransferHandler = Callable[[str, str | None, Any], tuple[str, Any]]


class StationSession(ChargingHandlers, SpecChargePoint):
    """One open OCPP 2.0.1 connection of a whitelisted charger."""

    def __init__(
        self,
        station_id: str,
        connection: Any,
        *,
        app: CloudBay,
        run: Runner,
        session_id: str,
        heartbeat_interval: int,
        data_transfer_handlers: dict[str, DataTransferHandler] | None = None,
        response_timeout: float = 30,
    ) -> None:
        super().__init__(station_id, connection, response_timeout=response_timeout)
        self.app = app
        self.run = run
        self.session_id = session_id
        self.heartbeat_interval = heartbeat_interval
        self.data_transfer_handlers = data_transfer_handlers or {}
        self.last_seen = utcnow()
        self.active_transactions: dict[int, str] = {}
        self.local_list_lock = asyncio.Lock()

    async def route_message(self, raw_msg: str | bytes) -> None:
        self.last_seen = utcnow()
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        await self.run(
            self.app.record_boot,
            self.id,
            reason=reason,
            vendor=charging_station["vendor_name"],
            model=charging_station["model"],
            serial_number=charging_station.get("serial_number"),
            firmware_version=charging_station.get("firmware_version"),
            reported_at=utcnow(),
        )
        return call_result.BootNotification(
            current_time=ocpp_time(utcnow()),
            interval=self.heartbeat_interval,
            status=RegistrationStatusEnumType.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        # Presence, not a domain fact: last_seen is kept in memory (see docs/architecture.md).
        return call_result.Heartbeat(current_time=ocpp_time(utcnow()))

    @on(Action.status_notification)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> Any:
        await self.run(
            self.app.record_connector_status,
            self.id,
            evse_id,
            connector_id,
            ConnectorStatus(connector_status),
            parse_time(timestamp, "timestamp"),
        )
        return call_result.StatusNotification()

    @on(Action.notify_event)
    async def on_notify_event(
        self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]], tbc: bool = False, **_: Any
    ) -> Any:
        await self.run(
            self.app.record_periodic_events,
            self.id,
            parse_time(generated_at, "generatedAt"),
            seq_no,
            tbc,
            event_data,
        )
        return call_result.NotifyEvent()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any) -> Any:
        handler = self.data_transfer_handlers.get(vendor_id)
        if handler is None:
            status, answer = DataTransferStatusEnumType.unknown_vendor_id.value, None
        else:
            status, answer = handler(self.id, message_id, data)
        await self.run(self.app.record_data_transfer, self.id, vendor_id, message_id, data, status)
        return call_result.DataTransfer(status=DataTransferStatusEnumType(status), data=answer)
