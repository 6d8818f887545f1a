"""What every REST endpoint shares: the runtime, the caller, the body, paging."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from adapters.auth import Principal, Role, bearer_token, require
from adapters.http.openapi import query
from adapters.http.problems import Problem
from adapters.http.text_guard import check_body_text

if TYPE_CHECKING:
    from adapters.wiring import Runtime

API = "/api/v1"
MAX_PAGE = 200
PAGE_PARAMS = (query("limit", f"page size, 1 to {MAX_PAGE}", type="integer", minimum=1, maximum=MAX_PAGE, default=50),)


def segment(value: str) -> str:
    """``value`` as one path segment of a link: percent-encoded but for the characters RFC 3986 allows there
    (an id token or station id may hold any printable character, and a header only Latin-1)."""
    return quote(value, safe="!$&'()*+,;=:@")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def authenticate(request: Request, *roles: Role) -> Principal:
    """Who is calling, from the bearer token; with ``roles``, also whether they may."""
    principal = await verify_token(runtime_of(request), bearer_token(request.headers))
    if roles:
        require(principal, *roles)
    return principal


async def verify_token(runtime: Runtime, token: str) -> Principal:
    """Verify a bearer token, and that its subject is still a current user (adapters.current_users). An
    external issuer's keys may have to be fetched: then off the event loop."""
    if runtime.settings.oauth_jwks_url:
        principal = await runtime.run(runtime.verifier.verify, token)
    else:
        principal = runtime.verifier.verify(token)
    await runtime.current_users.check(principal, runtime.run)
    return principal


async def json_body(request: Request, model: type[BaseModel]) -> Any:
    return parse_json(await request.body(), model)


def parse_json(body: bytes, model: type[BaseModel]) -> Any:
    """``body`` as ``model``: 400 when it is no JSON, 422 (each field) when it does not match."""
    try:
        raw = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "the body is not valid JSON") from None
    except RecursionError:
        raise Problem(400, "Bad Request", "the body is nested too deeply") from None
    check_body_text(raw)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]} for err in e.errors()
        ]
        raise Problem(422, "Unprocessable Content", "the body does not match the schema", errors=errors) from None


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_PAGE:  # not '²' or '٣'
        raise Problem(400, "Bad Request", f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw)
