"""A device's production pipeline over REST: release, scrap, unlock release; its labels; the MAC blocks."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import MANUFACTURING, Act, on_charger
from adapters.auth import Role
from adapters.http import production_schemas as ps
from adapters.http.common import API, authenticate, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.production import NO_STORE
from adapters.labels import qr_png, qr_svg
from cloudbay_domain.device import Device
from cloudbay_domain.mac import MacBlock

if TYPE_CHECKING:
    from adapters.wiring import Runtime

CHARGER = API + "/chargers/{station_id}"
LABELS = {"charger.svg", "charger.png", "box.svg", "box.png"}
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}


def present_device(device: Device) -> dict[str, Any]:
    base = f"{API}/chargers/{segment(device.station_id)}"
    links = {
        "self": {"href": f"{base}/device"},
        "charger": {"href": base},
        "batch": {"href": f"{API}/production-batches/{segment(device.batch_id)}"},
        "release": {"href": f"{base}/release"},
        "charger_label": {"href": f"{base}/labels/charger.svg"},
        "box_label": {"href": f"{base}/labels/box.svg"},
    }
    fields = ("station_id", "batch_id", "model", "hardware_family", "mac_address", "failed_releases", "version")
    body = {name: getattr(device, name) for name in fields}
    if device.firmware_requests:
        update = (device.firmware_requests, device.firmware_version, device.firmware_status)
        body["firmware_update"] = dict(zip(("request_id", "version", "status"), update, strict=True))
    return ps.Device.shape({**body, "state": device.state.value, "release_locked": device.locked, "_links": links})


async def get_device(request: Request) -> Response:
    await on_charger(request, Act.MANUFACTURE)
    runtime = runtime_of(request)
    device = await runtime.run(runtime.pipeline.device, request.path_params["station_id"])
    return JSONResponse(present_device(device))


async def release(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.MANUFACTURE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: ps.ReleaseRequest = await json_body(request, ps.ReleaseRequest)
    device = await runtime.run(
        runtime.pipeline.release, station_id, body.box_code, principal.subject, body.allow_unenrolled
    )
    await runtime.run(runtime.wait_for_read_models)
    return JSONResponse(present_device(device))


async def scrap(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.MANUFACTURE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: ps.ScrapRequest = await json_body(request, ps.ScrapRequest)
    device = await runtime.run(runtime.pipeline.scrap, station_id, principal.subject, body.reason)
    # a scrapped device's certificates are revoked with it (none: nothing is written)
    await runtime.run(runtime.platform.certificates.revoke, station_id, principal.subject, "scrapped", False)
    await close_session(runtime, station_id)
    await runtime.run(runtime.wait_for_read_models)
    return JSONResponse(present_device(device))


async def close_session(runtime: Runtime, station_id: str, reason: str = "scrapped") -> None:
    """A scrapped charger (or one whose certificate was revoked) stays off the network: a session it holds is
    closed (policy violation, 1008)."""
    entry = runtime.link.sessions.get(station_id)
    if entry is not None:
        with contextlib.suppress(Exception):
            await entry[1].close(code=1008, reason=reason)


async def unlock_release(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    runtime = runtime_of(request)
    device = await runtime.run(runtime.pipeline.unlock, request.path_params["station_id"], principal.subject)
    return JSONResponse(present_device(device))


async def label(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.MANUFACTURE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    which, media = request.url.path.rsplit("/", 1)[1].split(".")
    _, codes = await runtime.run(runtime.pipeline.label, station_id, which, media, principal.subject)
    payload = codes.charger_payload if which == "charger" else codes.box_payload
    image = qr_svg(payload) if media == "svg" else qr_png(payload)
    return Response(image, media_type=MEDIA[media], headers=NO_STORE)


async def add_mac_block(request: Request) -> Response:
    principal = await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    body: ps.MacBlockRequest = await json_body(request, ps.MacBlockRequest)
    added = await runtime.run(runtime.batches.add_mac_block, MacBlock.parse(body.block), principal.subject)
    answer = await mac_blocks_body(request)
    return JSONResponse(answer, status_code=201 if added else 200)


async def mac_blocks_body(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    blocks = await runtime.run(runtime.batches.mac_blocks)
    left = sum(b["size"] - b["used"] for b in blocks)
    return ps.MacBlocks.shape({"items": blocks, "addresses_left": left, "_links": {"self": {"href": MAC_BLOCKS}}})


async def list_mac_blocks(request: Request) -> Response:
    await authenticate(request, *MANUFACTURING)
    return JSONResponse(await mac_blocks_body(request))


def device_doc(operation_id: str, summary: str, problems: tuple[int, ...], body: Any = None) -> Doc:
    return Doc(operation_id, summary, "manufacturing", {200: ps.Device}, problems, body=body)


def label_route(name: str) -> BaseRoute:
    which, media = name.split(".")
    summary = (
        f"The {which} label's QR code as {media.upper()} ({'the secret box code' if which == 'box' else 'pairing'})"
    )
    doc = Doc(f"get{which.title()}Label{media.title()}", summary, "manufacturing", {200: None}, (403, 404, 409, 503))
    return api_route("GET", f"{CHARGER}/labels/{name}", label, dataclasses.replace(doc, media=MEDIA[media]))


MAC_BLOCKS = f"{API}/mac-blocks"
RELEASE = "Release: check the box security code, link the box to the charger, state released"
routes: list[BaseRoute] = [
    api_route(
        "GET", CHARGER + "/device", get_device, device_doc("getDevice", "The device's pipeline", (403, 404, 409))
    ),
    api_route(
        "POST",
        CHARGER + "/release",
        release,
        device_doc("releaseCharger", RELEASE, (403, 404, 409, 423, 503), ps.ReleaseRequest),
    ),
    api_route(
        "POST",
        CHARGER + "/scrap",
        scrap,
        device_doc(
            "scrapCharger", "Scrap: it never connects again, its MAC is never reused", (403, 404, 409), ps.ScrapRequest
        ),
    ),
    api_route(
        "POST",
        CHARGER + "/release/unlock",
        unlock_release,
        device_doc("unlockRelease", "Unlock release after ten wrong box codes (operators)", (403, 404, 409)),
    ),
    *(label_route(name) for name in sorted(LABELS)),
    api_route(
        "GET",
        MAC_BLOCKS,
        list_mac_blocks,
        Doc(
            "listMacBlocks", "The MAC blocks and how much of each is used", "manufacturing", {200: ps.MacBlocks}, (403,)
        ),
    ),
    api_route(
        "POST",
        MAC_BLOCKS,
        add_mac_block,
        Doc(
            "addMacBlock",
            "Add a MAC block (operators); 200 when it is there already",
            "manufacturing",
            {200: ps.MacBlocks, 201: ps.MacBlocks},
            (403, 409),
            body=ps.MacBlockRequest,
        ),
    ),
]
