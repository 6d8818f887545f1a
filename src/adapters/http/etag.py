"""ETags and If-Match (RFC 9110 sections 8.8.3 and 13.1.1) over aggregate versions.

A resource's ETag is its aggregate's version as a strong entity tag (``"7"``): it names the state, so any change
recorded on the aggregate (an operator's or the charger's own) changes it. ``If-Match`` is compared strongly: a
weak tag (``W/"7"``) or a tag that is not a version never matches. The versions a request names go to the
service, which checks them inside its load → command → save (``services.errors.check_version``).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from adapters.http.problems import Problem

_TAG = re.compile(r'[ \t]*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(,|$)')


def etag(version: int) -> dict[str, str]:
    """The ETag header of a resource at ``version``."""
    return {"ETag": f'"{version}"'}


def parse_if_match(value: str) -> frozenset[int] | None:
    """The versions an If-Match value names; None for ``*`` (any). Raises a 400 Problem when malformed."""
    if value.strip() == "*":
        return None
    versions: set[int] = set()
    position, ended = 0, False
    while not ended:
        match = _TAG.match(value, position)
        if match is None:
            raise Problem(400, "Bad Request", 'If-Match must be "*" or a list of quoted entity tags, e.g. "3"')
        weak, opaque, comma = match.groups()
        if not weak and opaque.isdigit() and opaque.isascii():
            versions.add(int(opaque))
        position, ended = match.end(), comma == ""
    return frozenset(versions)


def if_match(request: Request) -> frozenset[int] | None:
    """The versions the request's If-Match names: None when it has none or ``*`` (the change is unconditional
    then, and a missing resource is 404 anyway)."""
    value = request.headers.get("if-match")
    return None if value is None else parse_if_match(value)
