"""OCPP 2.0.1 charging messages of a station session: transactions (E), meter values (J), authorization
(C01) and the local authorization list (D01), plus the CSMS-initiated calls the app needs (F01, F03).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError, PropertyConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from adapters.ocpp.time import parse_time
from cloudbay_domain.metering import MeterValueError, Sample, parse_meter_values
from cloudbay_domain.transaction import EventType

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from services.platform import CloudBay

log = logging.getLogger("cloudbay.ocpp")


class CallFailed(Exception):
    """A CSMS-initiated call got no usable answer: ``reason`` is 'Timeout' or the CALLERROR code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def samples_of(meter_values: list[dict[str, Any]] | None) -> list[Sample]:
    try:
        return parse_meter_values(meter_values or [])
    except MeterValueError as e:
        raise PropertyConstraintViolationError(
            description=f"meterValue: {e}", details={"field": "meterValue"}
        ) from None


class ChargingHandlers:
    """Mixed into ``StationSession``: it provides ``id``, ``app``, ``run``, ``call`` and ``_response_timeout``."""

    if TYPE_CHECKING:
        id: str
        app: CloudBay
        _response_timeout: float

        run: Callable[..., Awaitable[Any]]

        async def call(self, payload: Any, suppress: bool = True, unique_id: Any = None) -> Any: ...

    active_transactions: dict[int, str]  # evseId -> transactionId, as this session has seen them
    local_list_lock: asyncio.Lock

    # --- charger → CSMS ---------------------------------------------------------------------

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        offline: bool = False,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        transaction_id = transaction_info["transaction_id"]
        evse_id = evse.get("id") if evse else None
        result = await self.run(
            self.app.record_transaction_event,
            self.id,
            transaction_id=transaction_id,
            event_type=EventType(event_type),
            seq_no=seq_no,
            timestamp=parse_time(timestamp, "timestamp"),
            trigger_reason=trigger_reason,
            offline=offline,
            evse_id=evse_id,
            connector_id=evse.get("connector_id") if evse else None,
            charging_state=transaction_info.get("charging_state"),
            stopped_reason=transaction_info.get("stopped_reason"),
            remote_start_id=transaction_info.get("remote_start_id"),
            id_token=id_token["id_token"] if id_token and id_token.get("id_token") else None,
            samples=samples_of(meter_value),
        )
        tx_evse = result.transaction.evse_id if evse_id is None else evse_id
        if tx_evse is not None and not offline:
            if result.transaction.status.value == "ended":
                if self.active_transactions.get(tx_evse) == transaction_id:
                    del self.active_transactions[tx_evse]
            else:
                self.active_transactions[tx_evse] = transaction_id
        if result.id_token_status is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info={"status": result.id_token_status})

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        samples = samples_of(meter_value)
        transaction_id = self.active_transactions.get(evse_id) if evse_id else None
        await self.run(self.app.record_meter_values, self.id, evse_id, samples, transaction_id)
        return call_result.MeterValues()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        status, _token = await self.run(self.app.authorize, id_token["id_token"])
        return call_result.Authorize(id_token_info={"status": status})

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_: Any) -> None:
        await self.sync_local_list(ask_charger=True)

    # --- CSMS → charger -------------------------------------------------------------------------

    async def request(self, payload: Any, timeout: float | None = None) -> Any:
        """Send a CSMS-initiated call and wait for the answer; raise ``CallFailed`` if there is none."""
        try:
            return await asyncio.wait_for(self.call(payload, suppress=False), timeout=timeout or self._response_timeout)
        except TimeoutError:
            raise CallFailed("Timeout", f"charger {self.id} did not answer {type(payload).__name__} in time") from None
        except OCPPError as e:
            raise CallFailed(getattr(e, "code", "GenericError"), f"charger {self.id} answered an error: {e}") from None

    async def sync_local_list(self, ask_charger: bool = False) -> str | None:
        """Push the full local authorization list if the charger's version is behind ours (D01).

        One sync at a time per session, reading the list inside the lock: a sync started by an older change
        can never overwrite the charger's list with an older version.
        """
        async with self.local_list_lock:
            return await self._sync_local_list(ask_charger)

    async def _sync_local_list(self, ask_charger: bool) -> str | None:
        try:
            auth_list = await self.run(self.app.local_auth_list)
            if auth_list.list_version == 0:
                return None
            held = (await self.run(self.app.get_charger, self.id)).local_list_version
            if ask_charger:
                answer = await self.request(call.GetLocalListVersion())
                held = answer.version_number
            if held == auth_list.list_version:
                return None
            entries = [
                {"id_token": {"id_token": value, "type": entry["type"]}, "id_token_info": {"status": entry["status"]}}
                for value, entry in sorted(auth_list.entries.items())
            ]
            answer = await self.request(
                call.SendLocalList(
                    version_number=auth_list.list_version, update_type="Full", local_authorization_list=entries
                )
            )
            status = str(answer.status)
        except CallFailed as e:
            status = e.reason
        except Exception:
            log.exception("local list sync with %s failed", self.id)
            return None
        await self.run(self.app.record_local_list_sent, self.id, auth_list.list_version, "Full", status)
        log.info("local list v%s sent to %s: %s", auth_list.list_version, self.id, status)
        return status
