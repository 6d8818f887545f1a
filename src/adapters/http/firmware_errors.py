"""The firmware images' refusals as HTTP problems."""

from __future__ import annotations

from adapters.http.problems import Problem
from services.firmware_images import ImageExists, ImageRefused, ImageTooLarge, NoImageStore, UnknownImage
from services.firmware_publish import NothingPublished


def firmware_problem(error: Exception) -> Problem | None:
    detail = str(error)
    if isinstance(error, (UnknownImage, NothingPublished)):
        return Problem(404, "Not Found", detail)
    if isinstance(error, ImageExists):
        return Problem(409, "Conflict", detail)
    if isinstance(error, ImageRefused):
        return Problem(422, "Unprocessable Content", detail)
    if isinstance(error, ImageTooLarge):
        return Problem(413, "Content Too Large", detail)
    if isinstance(error, NoImageStore):
        return Problem(503, "Service Unavailable", detail)
    return None
