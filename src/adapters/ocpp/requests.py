"""The port's requests as OCPP 2.0.1 calls, and the charger's answers back as the port's answer objects.

One entry per request type: how to build its ``ocpp.v201.call`` message, and how to read the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp.v201 import call

from adapters.ocpp import smart_charging as k
from adapters.ocpp.time import ocpp_time
from services.ports import (
    ClearChargingProfile,
    GetCompositeSchedule,
    GetLocalListVersion,
    GetVariable,
    InstallCertificate,
    PublishFirmware,
    RequestStart,
    RequestStop,
    Reset,
    SendLocalList,
    SetChargingProfile,
    SetVariable,
    StartAnswer,
    StatusAnswer,
    TriggerMessage,
    UnpublishFirmware,
    UpdateFirmware,
    VersionAnswer,
)


def _status(result: Any) -> StatusAnswer:
    return StatusAnswer(str(result.status))


def _list_status(result: Any) -> StatusAnswer:
    """SendLocalList's status; ``Failed`` with reasonCode ``NotEnabled`` (the local list is disabled on the charger:
    LocalAuthListCtrlr.Enabled is false) is told apart as ``NotEnabled``, so that the CSMS can enable it."""
    reason = str((result.status_info or {}).get("reason_code", ""))
    return StatusAnswer(
        "NotEnabled" if str(result.status) == "Failed" and reason.lower() == "notenabled" else str(result.status)
    )


def _start(request: RequestStart) -> Any:
    id_token = {"id_token": request.id_token, "type": request.id_token_type}
    return call.RequestStartTransaction(
        id_token=id_token, remote_start_id=request.remote_start_id, evse_id=request.evse_id
    )


def _set_variable(request: SetVariable) -> Any:
    variable = {
        "attribute_value": request.value,
        "component": {"name": request.component},
        "variable": {"name": request.variable},
    }
    return call.SetVariables(set_variable_data=[variable])


def _send_local_list(request: SendLocalList) -> Any:
    entries = [
        {"id_token": {"id_token": e.id_token, "type": e.id_token_type}}
        | ({"id_token_info": {"status": e.status}} if e.status is not None else {})
        for e in request.entries
    ]
    return call.SendLocalList(
        version_number=request.version, update_type=request.update_type, local_authorization_list=entries
    )


def _update_firmware(request: UpdateFirmware) -> Any:
    firmware: dict[str, Any] = {"location": request.location, "retrieve_date_time": ocpp_time(request.retrieve_at)}
    if request.signature is not None:
        firmware["signature"] = request.signature
    if request.signing_certificate is not None:
        firmware["signing_certificate"] = request.signing_certificate
    return call.UpdateFirmware(
        request_id=request.request_id, firmware=firmware, retries=request.retries, retry_interval=request.retry_interval
    )


CALLS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    RequestStart: (_start, lambda r: StartAnswer(str(r.status), r.transaction_id)),
    RequestStop: (lambda q: call.RequestStopTransaction(transaction_id=q.transaction_id), _status),
    SetVariable: (_set_variable, lambda r: StatusAnswer(str(r.set_variable_result[0]["attribute_status"]))),
    GetLocalListVersion: (lambda q: call.GetLocalListVersion(), lambda r: VersionAnswer(int(r.version_number))),
    SendLocalList: (_send_local_list, _list_status),
    Reset: (lambda q: call.Reset(type=q.kind, evse_id=q.evse_id), _status),
    TriggerMessage: (lambda q: call.TriggerMessage(requested_message=q.message), _status),
    UpdateFirmware: (_update_firmware, _status),
    PublishFirmware: (
        lambda q: call.PublishFirmware(
            location=q.location,
            checksum=q.checksum,
            request_id=q.request_id,
            retries=q.retries,
            retry_interval=q.retry_interval,
        ),
        _status,
    ),  # fmt: skip
    UnpublishFirmware: (lambda q: call.UnpublishFirmware(checksum=q.checksum), _status),
    SetChargingProfile: (k.set_charging_profile, _status),
    ClearChargingProfile: (k.clear_charging_profile, _status),
    GetCompositeSchedule: (k.get_composite_schedule, k.composite_answer),
    GetVariable: (k.get_variable, k.variable_answer),
    InstallCertificate: (
        lambda q: call.CertificateSigned(certificate_chain=q.chain_pem, certificate_type=q.certificate_type),
        _status,
    ),
}


def to_call(request: Any) -> tuple[Any, Callable[[Any], Any]]:
    """The OCPP message for ``request``, and the reader of its result."""
    build, read = CALLS[type(request)]
    return build(request), read
