"""``GET /firmware/{sha256}?expires=...&sig=...``: a charger downloads an image by the link UpdateFirmware gave it.

No token: the link is the right to fetch (``services.download_links``); an expired or altered one is refused
(403). One byte range (``Range: bytes=a-b``, ``a-``, ``-n``) is served as 206 with ``Content-Range``, so an
interrupted download resumes where it stopped; a range that starts past the end is 416 (``bytes */size``); any
other Range header (several ranges, another unit) gets the whole image.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from adapters.http.common import runtime_of
from adapters.http.openapi import Doc, api_route, query
from adapters.http.problems import Problem
from services.firmware_images import UnknownImage

DOWNLOAD = "/firmware/{sha256}"
RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes a Range header asks for, None for the whole image; ``Problem`` 416 when no byte
    of the image is in it."""
    match = RANGE.match((header or "").strip().replace(" ", ""))
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last n bytes
        if int(last) == 0:
            raise unsatisfiable(size)
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise unsatisfiable(size)
    return start, end


def unsatisfiable(size: int) -> Problem:
    return Problem(416, "Range Not Satisfiable", f"the image has {size} bytes",
                   headers={"Content-Range": f"bytes */{size}"})  # fmt: skip


async def download(request: Request) -> Response:
    runtime, sha256 = runtime_of(request), request.path_params["sha256"]
    links = runtime.platform.rollouts.links
    if links is None or not links.valid(sha256, request.query_params.get("expires"), request.query_params.get("sig")):
        raise Problem(403, "Forbidden", "the download link is not valid (expired, or not made by this platform)")
    images = runtime.platform.firmware_images
    size = await runtime.run(images.store.size, sha256)
    if size is None:
        raise UnknownImage(f"no firmware image {sha256}")
    chosen = byte_range(request.headers.get("range"), size)
    first, last = chosen or (0, size - 1)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(last - first + 1), "Cache-Control": "no-store"}
    if chosen is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(images.chunks(sha256, first, last), status_code=206 if chosen else 200,
                             media_type="application/octet-stream", headers=headers)  # fmt: skip


download_routes: list[BaseRoute] = [
    api_route("GET", DOWNLOAD, download, Doc(
        "downloadFirmware", "A firmware image, by the expiring link UpdateFirmware carries (chargers)", "firmware",
        {200: None, 206: None}, (403, 404, 416), secured=False,
        params=(query("expires", "Unix seconds"), query("sig", "the link's HMAC")))),
]  # fmt: skip
