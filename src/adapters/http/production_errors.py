"""Manufacturing refusals as HTTP problems (consulted by ``adapters.http.errors.problem_for``)."""

from __future__ import annotations

from dataclasses import asdict

from adapters.http.problems import Problem
from adapters.manufacturing import ManufacturingKeyError
from cloudbay_domain.batch import BatchConflict, BatchRefused
from cloudbay_domain.device import DeviceError, InvalidTransition, NotLocked, ReleaseLocked
from cloudbay_domain.mac import MacAddressesExhausted, MacBlockOverlaps, MacError
from services.batches import SerialsTaken, UnknownBatch
from services.pipeline import NotInPipeline, WrongBoxCode

# domain refusals that are no ServiceError, answered by the app's refusal handler (not as server errors)
REFUSALS = (BatchRefused, BatchConflict, MacError, DeviceError, ManufacturingKeyError)


def production_problem(error: Exception) -> Problem | None:
    detail = str(error)
    if isinstance(error, BatchRefused):  # every bad row listed; taken serials conflict, the rest is bad content
        status, title = (409, "Conflict") if isinstance(error, SerialsTaken) else (422, "Unprocessable Content")
        rows = [{k: v for k, v in asdict(row).items() if v is not None} for row in error.rows]
        return Problem(status, title, detail, rows=rows, bad_rows=error.bad_rows)
    if isinstance(error, MacAddressesExhausted):
        return Problem(409, "Conflict", detail, addresses_left=error.left)
    if isinstance(error, BatchConflict | MacBlockOverlaps | NotLocked):
        return Problem(409, "Conflict", detail)
    if isinstance(error, MacError):
        return Problem(422, "Unprocessable Content", detail)
    if isinstance(error, InvalidTransition | NotInPipeline):
        return Problem(409, "Conflict", detail, state=error.state)
    if isinstance(error, ReleaseLocked):
        return Problem(423, "Locked", detail, reason="ReleaseLocked")
    if isinstance(error, WrongBoxCode):
        return Problem(403, "Forbidden", detail, reason="WrongBoxCode", failed_attempts=error.failed_attempts)
    if isinstance(error, UnknownBatch):
        return Problem(404, "Not Found", detail)
    if isinstance(error, ManufacturingKeyError):  # the key file lost a key: the operator must restore it
        return Problem(503, "Service Unavailable", detail, reason="ManufacturingKey")
    return None
