"""Charging schedules over REST (docs/scheduling.md "Schedules"): accept a quote, list, clear, and compare with the
charger's composite schedule.

Who may (``adapters.access``): accepting a quote, listing and clearing schedules is charging at the charger
(owners, co-owners, guests, operators), as asking for the quote is; the composite schedule is the charger's
settings' business (owners, co-owners, operators).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any
from uuid import UUID

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, on_charger
from adapters.http.common import API, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route, query
from adapters.http.problems import Problem
from adapters.http.scheduling import stamp
from adapters.http.schemas import Body, Links, Timestamp
from cloudbay_domain.charging_schedule import STACK_LEVEL, ChargingSchedule
from cloudbay_domain.quotes import money
from services.ports import CompositeAnswer
from services.schedules import UnknownSchedule

SCHEDULES = API + "/chargers/{station_id}/schedules"
MAX_COMPOSITE_SECONDS = 7 * 24 * 3600


class ScheduleRequest(Body):
    quote_id: str = Field(max_length=2048, description="the quote_id of a quote of this charger, before it expires")
    evse_id: int = Field(default=1, ge=1, le=1000)


class SchedulePeriodBody(Body):
    start_period: int = Field(description="seconds from start")
    limit: str = Field(description="in charging_rate_unit")


class Schedule(Body):
    id: str
    station_id: str
    evse_id: int
    state: str = Field(description="requested, accepted, rejected, failed, cleared or stopped")
    reason: str | None = Field(description="the charger's answer, the failure, or why the platform stopped it")
    profile_id: int
    purpose: str
    stack_level: int
    transaction_id: str | None
    charging_rate_unit: str
    start: Timestamp
    end: Timestamp
    periods: list[SchedulePeriodBody]
    energy_kwh: str
    cost: str
    currency: str
    requested_by: str
    links: Links


class ScheduleList(Body):
    schedules: list[Schedule]
    links: Links


class CompositeSchedule(Body):
    station_id: str
    evse_id: int
    status: str
    start: Timestamp | None
    duration: int | None
    charging_rate_unit: str | None
    periods: list[SchedulePeriodBody]
    planned: list[Schedule] = Field(description="the platform's active schedules on that EVSE, to compare")
    links: Links


def present(schedule: ChargingSchedule) -> dict[str, Any]:
    charger = f"{API}/chargers/{segment(schedule.station_id)}"
    return {
        "id": str(schedule.id),
        "station_id": schedule.station_id,
        "evse_id": schedule.evse_id,
        "state": schedule.state.value,
        "reason": schedule.reason,
        "profile_id": schedule.profile_id,
        "purpose": schedule.purpose,
        "stack_level": STACK_LEVEL,
        "transaction_id": schedule.transaction_id,
        "charging_rate_unit": schedule.rate_unit,
        "start": stamp(schedule.start),
        "end": stamp(schedule.end),
        "periods": [
            {"start_period": int(at), "limit": str(money(Fraction(limit), 1))} for at, limit in schedule.periods
        ],
        "energy_kwh": str(money(Fraction(schedule.energy_wh) / 1000, 3)),
        "cost": str(money(Fraction(schedule.cost))),
        "currency": schedule.currency,
        "requested_by": schedule.by,
        "_links": {"self": {"href": f"{charger}/schedules/{schedule.id}"}, "charger": {"href": charger}},
    }


def present_composite(
    station_id: str, evse_id: int, answer: CompositeAnswer, planned: list[ChargingSchedule]
) -> dict[str, Any]:
    charger = f"{API}/chargers/{segment(station_id)}"
    body = {
        "station_id": station_id,
        "evse_id": evse_id,
        "status": answer.status,
        "start": stamp(answer.start) if answer.start else None,
        "duration": answer.duration,
        "charging_rate_unit": answer.rate_unit,
        "periods": [{"start_period": p.start_period, "limit": str(p.limit)} for p in answer.periods],
        "planned": [present(s) for s in planned if s.active and s.evse_id == evse_id],
        "_links": {"charger": {"href": charger}, "schedules": {"href": f"{charger}/schedules"}},
    }
    return CompositeSchedule.shape(body)


def schedule_id_of(request: Request) -> UUID:
    try:
        return UUID(request.path_params["schedule_id"])
    except ValueError:
        raise UnknownSchedule(f"no schedule {request.path_params['schedule_id']}") from None


async def post_schedule(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.CHARGE)
    station_id = request.path_params["station_id"]
    body: ScheduleRequest = await json_body(request, ScheduleRequest)
    schedules = runtime_of(request).platform.schedules
    schedule = await schedules.accept(station_id, body.quote_id, body.evse_id, principal.subject)
    out = Schedule.shape(present(schedule))
    return JSONResponse(out, status_code=201, headers={"Location": out["_links"]["self"]["href"]})


async def list_schedules(request: Request) -> Response:
    await on_charger(request, Act.CHARGE)
    station_id = request.path_params["station_id"]
    runtime = runtime_of(request)
    found = await runtime.run(runtime.platform.schedules.of_charger, station_id)
    links = {"self": {"href": f"{API}/chargers/{segment(station_id)}/schedules"}}
    return JSONResponse(ScheduleList.shape({"schedules": [present(s) for s in found], "_links": links}))


async def delete_schedule(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.CHARGE)
    station_id = request.path_params["station_id"]
    schedules = runtime_of(request).platform.schedules
    schedule = await schedules.clear(station_id, schedule_id_of(request), principal.subject)
    return JSONResponse(Schedule.shape(present(schedule)))


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Problem(422, "Unprocessable Content", f"{name} is a whole number from {low} to {high}")
    return value


async def get_composite(request: Request) -> Response:
    await on_charger(request, Act.SETTINGS)
    station_id = request.path_params["station_id"]
    duration = query_int(request, "duration", 86400, 1, MAX_COMPOSITE_SECONDS)
    evse_id = query_int(request, "evse_id", 1, 0, 1000)
    runtime = runtime_of(request)
    answer: CompositeAnswer = await runtime.platform.schedules.composite(station_id, evse_id, duration)
    planned = await runtime.run(runtime.platform.schedules.of_charger, station_id)
    return JSONResponse(present_composite(station_id, evse_id, answer, planned))


routes: list[BaseRoute] = [
    api_route(
        "POST",
        SCHEDULES,
        post_schedule,
        Doc(
            "acceptScheduleQuote",
            "Accept a quote: the charger gets it as SetChargingProfile (TxProfile or TxDefaultProfile)",
            "scheduling",
            {201: Schedule},
            (403, 404, 409, 410, 422),
            body=ScheduleRequest,
            location=(201,),
        ),
    ),
    api_route(
        "GET",
        SCHEDULES,
        list_schedules,
        Doc("listSchedules", "The charger's schedules, newest first", "scheduling", {200: ScheduleList}, (403, 404)),
    ),
    api_route(
        "DELETE",
        SCHEDULES + "/{schedule_id}",
        delete_schedule,
        Doc(
            "clearSchedule",
            "Clear a schedule: the charger gets ClearChargingProfile",
            "scheduling",
            {200: Schedule},
            (403, 404, 409),
        ),
    ),
    api_route(
        "GET",
        API + "/chargers/{station_id}/composite-schedule",
        get_composite,
        Doc(
            "getCompositeSchedule",
            "What the charger will do (GetCompositeSchedule), next to the platform's plans",
            "scheduling",
            {200: CompositeSchedule},
            (403, 404, 409, 422),
            params=(
                query("duration", "seconds ahead (default a day)", type="integer", minimum=1),
                query("evse_id", "the EVSE (default 1; 0: the whole charger)", type="integer", minimum=0),
            ),
        ),
    ),
]
