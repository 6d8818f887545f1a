"""Firmware images over REST: upload (operators), list and read; and the chargers' download by expiring link.

``POST /api/v1/firmware-images?family=...&version=...`` takes the image itself as the request body
(``application/octet-stream``), or a ``multipart/form-data`` body whose ``image`` part is the image and whose
other parts are the facts; either is streamed to the image store as it arrives: a declared ``Content-Length`` over
the limit is refused before anything is read, and a body that grows over it is refused (413) as soon as it
does, its bytes discarded. ``GET /firmware/{sha256}?expires=...&sig=...`` serves an image to whoever holds a
link the platform made (no token: chargers fetch it with their download client), with single byte ranges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import check_operator
from adapters.http.common import API, authenticate, page_limit, runtime_of
from adapters.http.firmware_download import download_routes
from adapters.http.multipart_upload import MAX_FIELD, MAX_FIELDS, boundary_of, read_multipart
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged, params_without_after, request_href
from adapters.http.problems import Problem
from adapters.http.schemas import Body, Links
from cloudbay_domain.firmware_image import FirmwareImage
from services.firmware_images import FirmwareImages, ImageFacts, ImageTooLarge, ImageWriter, UnknownImage

IMAGES = API + "/firmware-images"
FACTS = ("family", "version", "minimum_version", "release_notes", "signature")


class Image(Body):
    image_id: str
    family: str
    version: str
    minimum_version: str | None
    release_notes: str
    sha256: str
    size: int
    signed_by: str = ""
    signature: str
    signing_certificate: str
    uploaded_by: str
    links: Links


class ImagePage(Body):
    items: list[Image]
    links: Links


def present(image: FirmwareImage) -> dict[str, Any]:
    return Image.shape({
        "image_id": str(image.id), "family": image.family, "version": image.firmware_version,
        "minimum_version": image.minimum_version, "release_notes": image.release_notes, "sha256": image.sha256,
        "size": image.size, "signed_by": image.signed_by, "signature": image.signature,
        "signing_certificate": image.signing_certificate, "uploaded_by": image.uploaded_by,
        "_links": {"self": {"href": f"{IMAGES}/{image.id}"}},
    })  # fmt: skip


def facts_of(given: dict[str, str | None]) -> ImageFacts:
    if not given.get("family") or not given.get("version"):
        raise Problem(422, "Unprocessable Content", "name the image's family and version")
    return ImageFacts(str(given["family"]), str(given["version"]), given.get("minimum_version") or None,
                      given.get("release_notes") or "", given.get("signature") or None)  # fmt: skip


def too_large(limit: int) -> ImageTooLarge:
    return ImageTooLarge(f"a firmware image has at most {limit} bytes")


async def fill(request: Request, write: Callable[[bytes], None]) -> dict[str, str | None]:
    """Stream the body to ``write``: the whole body, or a multipart body's ``image`` part; the facts given."""
    given: dict[str, str | None] = {name: request.query_params.get(name) for name in FACTS}
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        fields = await read_multipart(request.stream(), boundary_of(content_type), "image", write)
        given.update({k: v for k, v in fields.items() if k in FACTS})
    else:
        async for chunk in request.stream():
            write(chunk)
    return given


def limited(writer: ImageWriter, limit: int) -> Callable[[bytes], None]:
    """``writer.write`` that refuses (413) the chunk that would take the image over ``limit`` bytes."""

    def write(chunk: bytes) -> None:
        if writer.size + len(chunk) > limit:
            raise too_large(limit)
        writer.write(chunk)

    return write


async def receive(request: Request, images: FirmwareImages) -> tuple[ImageWriter, dict[str, str | None]]:
    """The image, streamed into the image store (413 as soon as it is over the limit, declared or not), and the
    facts: the query's, and with a multipart body its fields too."""
    declared, multipart = request.headers.get("content-length", ""), request.headers.get("content-type", "")
    if declared.isdigit() and int(declared) > images.max_bytes + (MAX_FIELD * MAX_FIELDS if multipart else 0):
        raise too_large(images.max_bytes)
    writer = await runtime_of(request).run(images.store.writer)
    try:
        given = await fill(request, limited(writer, images.max_bytes))
        if writer.size == 0:
            raise Problem(422, "Unprocessable Content", "the image is empty")
    except BaseException:
        writer.discard()
        raise
    return writer, given


async def upload_image(request: Request) -> Response:
    principal = await authenticate(request)
    check_operator(principal, "upload firmware images")
    runtime = runtime_of(request)
    images = runtime.platform.firmware_images
    if not request.headers.get("content-type", "").lower().startswith("multipart/"):
        await runtime.run(images.check, facts_of({name: request.query_params.get(name) for name in FACTS}))
    writer, given = await receive(request, images)
    try:
        facts = facts_of(given)
    except Problem:
        writer.discard()
        raise
    image = await runtime.run(images.register, facts, writer, principal.subject)
    out = present(image)
    return JSONResponse(out, status_code=201, headers={"Location": out["_links"]["self"]["href"]})


async def list_images(request: Request) -> Response:
    check_operator(await authenticate(request), "read firmware images")
    runtime, limit = runtime_of(request), page_limit(request)
    family, after = request.query_params.get("family"), request.query_params.get("after")
    rows = await runtime.run(runtime.firmware_image_queries.page, family, after, limit + 1)
    params = params_without_after(request)

    def next_href(row: dict[str, Any]) -> str:
        return f"{IMAGES}?{urlencode({**params, 'after': row['cursor']})}"

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        return Image.shape({**row["image"], "_links": {"self": {"href": f"{IMAGES}/{row['image']['image_id']}"}}})

    return JSONResponse(paged(rows, limit, self_href=request_href(request), next_href=next_href, present=shown))


async def get_image(request: Request) -> Response:
    check_operator(await authenticate(request), "read firmware images")
    runtime = runtime_of(request)
    try:
        image_id = UUID(request.path_params["image_id"])
    except ValueError:
        raise UnknownImage(f"no firmware image {request.path_params['image_id']}") from None
    return JSONResponse(present(await runtime.run(runtime.platform.firmware_images.get, image_id)))


routes: list[BaseRoute] = [
    api_route("POST", IMAGES, upload_image, Doc(
        "uploadFirmwareImage", "Upload a firmware image (operators): the body is the image", "firmware",
        {201: Image}, (403, 409, 413, 422), location=(201,),
        params=tuple(query(name, f"the image's {name.replace('_', ' ')}") for name in FACTS))),
    api_route("GET", IMAGES, list_images, Doc(
        "listFirmwareImages", "The uploaded firmware images, newest first (operators)", "firmware",
        {200: ImagePage}, (400, 403), params=(query("family", "only this family's"),))),
    api_route("GET", IMAGES + "/{image_id}", get_image, Doc(
        "getFirmwareImage", "One firmware image (operators)", "firmware", {200: Image}, (403, 404))),
    *download_routes,
]  # fmt: skip
