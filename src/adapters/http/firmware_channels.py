"""Firmware channels over REST (operators): one charger's family and channel, or every charger a filter matches."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, check_operator, on_charger
from adapters.http.common import API, authenticate, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.rollout_schemas import FilterModel
from adapters.http.schemas import Body, Links
from cloudbay_domain.firmware_channel import DEFAULT_CHANNEL, ChannelAssignment, ChannelMembership

CHANNEL_OF = API + "/chargers/{station_id}/firmware-channel"
ASSIGNMENTS = API + "/firmware-channels/{name}/assignments"


class ChannelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"family": "home-22kw",
                                                                                 "channel": "beta"}]})  # fmt: skip
    family: str = Field(min_length=1, max_length=64, description="the hardware family whose images it takes")
    channel: str = Field(min_length=1, max_length=64, description="stable, beta, canary, ...")


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"filter": {"batch_id": "B-7"}}]})
    family: str | None = Field(None, min_length=1, max_length=64, description="none: each charger's own family")
    filter: FilterModel


class Channel(Body):
    station_id: str
    family: str
    channel: str
    assigned_by: str | None
    links: Links


class Assignment(Body):
    assignment_id: str
    channel: str
    family: str | None
    filter: dict[str, Any]
    matched: int | None = Field(description="chargers the filter matched")
    moved: int | None = Field(description="of those, the chargers that changed channel")
    by: str


def present_channel(station_id: str, family: str, membership: ChannelMembership | None) -> dict[str, Any]:
    links = {"self": {"href": CHANNEL_OF.replace("{station_id}", segment(station_id))}}
    if membership is None:
        return Channel.shape({"station_id": station_id, "family": family, "channel": DEFAULT_CHANNEL,
                              "assigned_by": None, "_links": links})  # fmt: skip
    return Channel.shape({"station_id": station_id, "family": membership.family, "channel": membership.channel,
                          "assigned_by": membership.by, "_links": links})  # fmt: skip


async def get_channel(request: Request) -> Response:
    await on_charger(request, Act.OPERATE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    charger = await runtime.run(runtime.platform.chargers.get, station_id)
    membership = await runtime.run(runtime.platform.firmware_channels.membership, station_id)
    return JSONResponse(present_channel(station_id, charger.hardware_family, membership))


async def set_channel(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: ChannelRequest = await json_body(request, ChannelRequest)
    assign = runtime.platform.firmware_channels.assign
    membership = await runtime.run(assign, station_id, body.family, body.channel, principal.subject)
    return JSONResponse(present_channel(station_id, membership.family, membership))


def present_assignment(done: ChannelAssignment) -> dict[str, Any]:
    return Assignment.shape({
        "assignment_id": str(done.id), "channel": done.channel, "family": done.family, "filter": done.filter,
        "matched": done.matched, "moved": done.moved, "by": done.by,
    })  # fmt: skip


async def assign_channel(request: Request) -> Response:
    principal = await authenticate(request)
    check_operator(principal, "assign chargers to a firmware channel")
    runtime = runtime_of(request)
    body: AssignmentRequest = await json_body(request, AssignmentRequest)
    assign, filter = runtime.platform.firmware_channels.assign_matching, body.filter.model_dump(exclude_none=True)
    done = await runtime.run(assign, request.path_params["name"], body.family, filter, principal.subject)
    return JSONResponse(present_assignment(done), status_code=201)


routes: list[BaseRoute] = [
    api_route("GET", CHANNEL_OF, get_channel, Doc(
        "getFirmwareChannel", "The charger's firmware family and channel (operators)", "firmware", {200: Channel},
        (403, 404))),
    api_route("PUT", CHANNEL_OF, set_channel, Doc(
        "setFirmwareChannel", "Put the charger on a firmware channel of a family (operators)", "firmware",
        {200: Channel}, (403, 404, 422), body=ChannelRequest)),
    api_route("POST", ASSIGNMENTS, assign_channel, Doc(
        "assignFirmwareChannel", "Put every charger a filter matches on the channel (operators)", "firmware",
        {201: Assignment}, (403, 422), body=AssignmentRequest)),
]  # fmt: skip
