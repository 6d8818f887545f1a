"""Publishing firmware on a local controller over REST (operators): PublishFirmware, UnpublishFirmware, state."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, on_charger
from adapters.http.common import API, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.schemas import Body, Links
from cloudbay_domain.firmware_publication import FirmwarePublication
from services.firmware_images import UnknownImage

PUBLICATION = API + "/chargers/{station_id}/firmware-publication"


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: str = Field(min_length=1, max_length=36, description="an uploaded image")


class Publication(Body):
    station_id: str
    image_id: str | None
    sha256: str | None
    checksum: str | None = Field(description="the image's MD5, as PublishFirmware names it")
    request_id: int | None
    answer: str | None = Field(description="the controller's answer to the last request")
    status: str | None = Field(description="its last PublishFirmwareStatusNotification")
    locations: list[str] = Field(description="where it serves the image (once Published)")
    by: str | None
    links: Links


def present(p: FirmwarePublication) -> dict[str, Any]:
    return Publication.shape({
        "station_id": p.station_id, "image_id": p.image_id, "sha256": p.sha256, "checksum": p.checksum,
        "request_id": p.request_id, "answer": p.answer, "status": p.status, "locations": p.locations, "by": p.by,
        "_links": {"self": {"href": PUBLICATION.replace("{station_id}", segment(p.station_id))}},
    })  # fmt: skip


async def get_publication(request: Request) -> Response:
    await on_charger(request, Act.OPERATE)
    runtime = runtime_of(request)
    return JSONResponse(
        present(await runtime.run(runtime.platform.publications.get, request.path_params["station_id"]))
    )


async def publish(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    body: PublishRequest = await json_body(request, PublishRequest)
    try:
        image_id = UUID(body.image_id)
    except ValueError:
        raise UnknownImage(f"no firmware image {body.image_id}") from None
    publications = runtime_of(request).platform.publications
    return JSONResponse(present(await publications.publish(request.path_params["station_id"], image_id,
                                                           principal.subject)))  # fmt: skip


async def unpublish(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    publications = runtime_of(request).platform.publications
    return JSONResponse(present(await publications.unpublish(request.path_params["station_id"], principal.subject)))


routes: list[BaseRoute] = [
    api_route("GET", PUBLICATION, get_publication, Doc(
        "getFirmwarePublication", "What a local controller publishes (operators)", "firmware", {200: Publication},
        (403, 404))),
    api_route("PUT", PUBLICATION, publish, Doc(
        "publishFirmware", "Send PublishFirmware for an uploaded image to a local controller (operators)",
        "firmware", {200: Publication}, (403, 404, 422), body=PublishRequest)),
    api_route("DELETE", PUBLICATION, unpublish, Doc(
        "unpublishFirmware", "Send UnpublishFirmware for what the local controller publishes (operators)",
        "firmware", {200: Publication}, (403, 404))),
]  # fmt: skip
