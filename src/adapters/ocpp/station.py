"""The CSMS side of one charger's OCPP 2.0.1 session: each handler reads a message, calls one service, answers.

A charger's CALLs are handled one after another (the RPC layer's worker), so a station's events are stored in
the order it sent them; its answers to our calls are routed meanwhile, so a handler may await a call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v201 import call_result
from ocpp.v201.enums import (
    Action,
    DataTransferStatusEnumType,
    GenericStatusEnumType,
    RegistrationStatusEnumType,
)

from adapters.ocpp import messages
from adapters.ocpp.rpc import Connection, RpcConnection, after, handles
from adapters.ocpp.rpc_limits import Limits
from adapters.ocpp.time import ocpp_time, parse_time, utcnow
from cloudbay_domain.firmware_publication import UnknownPublishStatus
from cloudbay_domain.firmware_update import UnknownFirmwareStatus
from cloudbay_domain.id_token import InvalidIdToken
from cloudbay_domain.metering import MeterValueError
from cloudbay_domain.security import Notice, Origin
from cloudbay_domain.text import InvalidText
from cloudbay_domain.transaction import InvalidTransactionId
from services.certificates import Signed
from services.platform import Platform

DataTransferHandler = Callable[[str, str | None, Any], tuple[str, Any]]
CallObserver = Callable[[str | None, str, float], None]  # (action, result, seconds): see observe_call
#: What the domain refuses in a value the schema lets through (an empty transactionId, an id token of spaces):
#: the charger's error, answered PropertyConstraintViolation; the refusal comes before any save.
REFUSED_VALUES = (
    InvalidTransactionId, InvalidIdToken, InvalidText, MeterValueError, UnknownFirmwareStatus, UnknownPublishStatus,
)  # fmt: skip


class StationSession(RpcConnection):
    """One open OCPP 2.0.1 connection of a whitelisted charger."""

    def __init__(
        self,
        station_id: str,
        connection: Connection,
        *,
        platform: Platform,
        session_id: str,
        heartbeat_interval: int,
        data_transfer_handlers: dict[str, DataTransferHandler] | None = None,
        call_observer: CallObserver | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(station_id, connection, limits)
        self.platform = platform
        self.session_id = session_id
        self.heartbeat_interval = heartbeat_interval
        self.data_transfer_handlers = data_transfer_handlers or {}
        self.call_observer = call_observer
        self.last_seen = utcnow()
        self._signed: dict[str, Signed] = {}  # by SignCertificate message id: sent by its @after hook

    def observe_call(self, action: str | None, result: str, seconds: float) -> None:
        if self.call_observer is not None:  # the node's metrics (adapters/metrics.py)
            self.call_observer(action, result, seconds)

    async def _store(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A store call in the platform's threads; a value the domain refuses is the charger's error."""
        return await self._stored(self.platform.run, fn, *args)

    async def _report(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``_store`` for a charger's report, whose only effect is its save: its thread does not wait for the
        group commit (``Platform.run_deferred``); the answer still waits until the report is committed."""
        return await self._stored(self.platform.run_deferred, fn, *args)

    async def _stored(self, run: Callable[..., Any], fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await run(fn, *args)
        except REFUSED_VALUES as e:
            raise PropertyConstraintViolationError(description=str(e)[:200], details={}) from None

    async def route_message(self, raw: str | bytes) -> None:
        self.last_seen = utcnow()
        await super().route_message(raw)

    @handles(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        await self._store(self.platform.chargers.record_boot, self.id, messages.boot_report(charging_station, reason))
        status = RegistrationStatusEnumType.accepted
        return call_result.BootNotification(
            current_time=ocpp_time(utcnow()), interval=self.heartbeat_interval, status=status
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_: Any) -> None:
        await self.platform.sync.sync_local_list(self.id, ask_charger=True)
        await self.platform.certificates.renew_if_due(self.id)  # A03: a certificate near its expiry
        # an enrolled device: ready on its family's stable firmware, else sent UpdateFirmware for it
        await self.platform.firmware.bring_to_stable(self.id)
        await self.platform.rollout_dispatcher.after_boot(self.id)  # its rollout campaign's update, if any
        await self.platform.load.after_boot(self.id)  # on a site: its limit (ChargingStationMaxProfile)

    @handles(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str, request_id: int | None = None, **_: Any) -> Any:
        await self._store(self.platform.firmware.record_status, self.id, messages.text(status, "status"), request_id)
        await self._store(self.platform.rollouts.record_status, self.id, status, request_id)
        await self.platform.rollout_dispatcher.reported(self.id, status)  # a failure frees a campaign's slot
        return call_result.FirmwareStatusNotification()

    @handles(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status_notification(
        self, status: str, location: list[str] | None = None, request_id: int | None = None, **_: Any
    ) -> Any:
        await self._store(self.platform.publications.record_status, self.id, status, request_id, location or [])
        return call_result.PublishFirmwareStatusNotification()

    @handles(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        # Presence, not a domain fact: last_seen is kept in memory (see docs/architecture.md).
        return call_result.Heartbeat(current_time=ocpp_time(utcnow()))

    @handles(Action.status_notification)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> Any:
        report = messages.status_report(timestamp, connector_status, evse_id, connector_id)
        await self._report(self.platform.chargers.record_status, self.id, report)
        return call_result.StatusNotification()

    @handles(Action.notify_event)
    async def on_notify_event(
        self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]], tbc: bool = False, **_: Any
    ) -> Any:
        report = messages.events_report(generated_at, seq_no, event_data, tbc, self.limits.max_stored_payload)
        await self._report(self.platform.chargers.record_events, self.id, report)
        return call_result.NotifyEvent()

    @handles(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any) -> Any:
        messages.text(vendor_id, "vendorId"), messages.text(message_id, "messageId")
        handler = self.data_transfer_handlers.get(vendor_id)
        status, answer = (DataTransferStatusEnumType.unknown_vendor_id.value, None)
        if handler is not None:
            status, answer = handler(self.id, message_id, data)
        report = messages.data_transfer_report(vendor_id, message_id, data, status, self.limits.max_stored_payload)
        await self._report(self.platform.chargers.record_data_transfer, self.id, report)
        return call_result.DataTransfer(status=DataTransferStatusEnumType(status), data=answer)

    @handles(Action.transaction_event)
    async def on_transaction_event(self, **payload: Any) -> Any:
        report = messages.transaction_report(**payload)
        result = await self._report(self.platform.transactions.record_event, self.id, report)
        if result.recorded and report.event_type.value in ("Started", "Ended"):
            self.platform.load.transaction_changed(self.id)  # a car arrived or left: its site is re-balanced
        if result.id_token_status is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info={"status": result.id_token_status})

    @handles(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        report = messages.meter_values_report(evse_id, meter_value)
        await self._report(self.platform.transactions.record_meter_values, self.id, report)
        return call_result.MeterValues()

    @handles(Action.security_event_notification)
    async def on_security_event_notification(
        self, type: str, timestamp: str, tech_info: str | None = None, **_: Any
    ) -> Any:
        kind, occurred_at = messages.text(type, "type"), parse_time(timestamp, "timestamp")
        notice = Notice(Origin.CHARGER, kind, occurred_at, tech_info)  # techInfo: control characters replaced
        await self._store(self.platform.security.record, self.id, notice)
        return call_result.SecurityEventNotification()

    @handles(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        value = messages.text(id_token["id_token"], "idToken.idToken")
        charger = partial(self.platform.chargers.get, self.id)  # its remote starts: the tokens issued to it
        status, _token = await self._store(self.platform.id_tokens.authorize_at, charger, value)
        return call_result.Authorize(id_token_info={"status": status})

    @handles(Action.sign_certificate)
    async def on_sign_certificate(
        self, csr: str, certificate_type: str | None = None, *, call_unique_id: str, **_: Any
    ) -> Any:
        outcome = await self._store(self.platform.certificates.sign, self.id, csr, certificate_type)
        if outcome.signed is None:
            info = {"reason_code": outcome.reason, "additional_info": outcome.detail[:500]}
            return call_result.SignCertificate(status=GenericStatusEnumType.rejected, status_info=info)
        self._signed[call_unique_id] = outcome.signed
        return call_result.SignCertificate(status=GenericStatusEnumType.accepted)

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, *, call_unique_id: str, **_: Any) -> None:
        signed = self._signed.pop(call_unique_id, None)
        if signed is not None:  # A02/A03: the certificate, once the charger has our answer
            if await self.platform.certificates.deliver(self.id, signed) == "Accepted":
                await self.platform.firmware.bring_to_stable(self.id)  # enrolled now: its stable firmware
