"""Hardware families over REST: each family's latest stable firmware (set by operators)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import MANUFACTURING
from adapters.auth import Role
from adapters.http.common import API, authenticate, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.schemas import Body, Links
from cloudbay_domain.firmware import MAX_LOCATION, MAX_VERSION, HardwareFamily

FAMILY = API + "/hardware-families/{family}"
EXAMPLE: dict[str, Any] = {"version": "2.4.1", "location": "https://firmware.example.com/home-22kw/2.4.1.bin"}


class StableFirmwareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    version: str = Field(min_length=1, max_length=MAX_VERSION, description="as chargers report it at boot")
    location: str = Field(min_length=1, max_length=MAX_LOCATION, description="the image's http(s) URL")


class StableFirmware(Body):
    version: str
    location: str
    set_by: str | None = None


class Family(Body):
    family: str
    stable_firmware: StableFirmware | None
    version: int
    links: Links


def present_family(record: HardwareFamily) -> dict[str, Any]:
    stable = None
    if record.stable_version is not None:
        stable = {"version": record.stable_version, "location": record.stable_location, "set_by": record.set_by}
    links = {"self": {"href": f"{API}/hardware-families/{segment(record.family)}"}}
    return Family.shape(
        {"family": record.family, "stable_firmware": stable, "version": record.version, "_links": links}
    )


async def get_family(request: Request) -> Response:
    await authenticate(request, *MANUFACTURING)
    runtime = runtime_of(request)
    record = await runtime.run(runtime.platform.firmware.family, request.path_params["family"])
    return JSONResponse(present_family(record))


async def set_stable_firmware(request: Request) -> Response:
    principal = await authenticate(request, Role.OPERATOR)
    runtime, family = runtime_of(request), request.path_params["family"]
    body: StableFirmwareRequest = await json_body(request, StableFirmwareRequest)
    firmware = runtime.platform.firmware
    record = await runtime.run(firmware.set_stable, family, body.version, body.location, principal.subject)
    return JSONResponse(present_family(record))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        FAMILY,
        get_family,
        Doc(
            "getHardwareFamily",
            "A hardware family and its latest stable firmware",
            "firmware",
            {200: Family},
            (403, 404),
        ),
    ),
    api_route(
        "PUT",
        FAMILY + "/stable-firmware",
        set_stable_firmware,
        Doc(
            "setStableFirmware",
            "Set the family's latest stable firmware (operators): enrolled chargers are brought to it at boot",
            "firmware",
            {200: Family},
            (403,),
            body=StableFirmwareRequest,
        ),
    ),
]
