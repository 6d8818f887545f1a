"""Users over REST: who am I (anyone), and for operators the user list, one user, removal, secret rotation.

Removing a user and rotating their secret revoke their tokens (``adapters.current_users``); this node drops
its cached state of the user at once, other nodes within ``CLOUDBAY_USER_CACHE_SECONDS``.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote, urlencode

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import check_may_remove
from adapters.auth import Principal, Role
from adapters.http.common import API, authenticate, page_limit, runtime_of
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged, params_without_after, request_href
from adapters.http.problems import Problem
from adapters.http.schemas import Body, Links, Timestamp
from adapters.oauth import hash_secret, new_client_secret
from projections.users import STATUSES

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # a client secret must not be cached


class Me(Body):
    email: str = Field(description="the token's subject", examples=["driver@example.com"])
    role: Literal["operator", "manufacturer", "user"] | None = Field(
        description="operator if the token grants it, else manufacturer if it does, else user"
    )
    roles: list[Literal["operator", "manufacturer", "user"]]
    links: Links


class UserRow(Body):
    email: str = Field(examples=["ops@example.com"])
    role: Literal["operator", "manufacturer", "user"]
    status: Literal["active", "removed"]
    registered_at: Timestamp
    changed_at: Timestamp
    version: int = Field(description="of the User aggregate the read model reflects")
    links: Links


class UserPage(Body):
    items: list[UserRow]
    links: Links


class NewSecret(Body):
    email: str
    client_id: str = Field(description="the OAuth2 client id: the e-mail")
    client_secret: str = Field(description="shown this once; stored hashed. Tokens issued before are revoked")
    links: Links


def user_href(email: str) -> str:
    return f"{API}/users/{quote(email, safe='@')}"


def present_me(principal: Principal) -> dict[str, Any]:
    roles = sorted(r.value for r in principal.roles)
    role = next((r.value for r in (Role.OPERATOR, Role.MANUFACTURER) if principal.has(r)), Role.USER.value)
    role = role if roles else None
    links = {
        "self": {"href": f"{API}/users/me"},
        "energy": {"href": f"{API}/users/me/energy"},
        "transactions": {"href": f"{API}/transactions"},
        "rfid_cards": {"href": f"{API}/rfid-cards"},
    }
    return {"email": principal.subject, "role": role, "roles": roles, "_links": links}


def present_user(row: dict[str, Any]) -> dict[str, Any]:
    href = user_href(row["email"])
    return {**row, "_links": {"self": {"href": href}, "secret": {"href": f"{href}/secret"}}}


def next_users_href(request: Request, last: dict[str, Any], limit: int) -> str:
    params = {**params_without_after(request), "limit": str(limit), "after": last["email"]}
    return f"{API}/users?{urlencode(params)}"


def status_filter(request: Request) -> str | None:
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise Problem(400, "Bad Request", f"status must be one of {', '.join(STATUSES)}")
    return status


async def get_me(request: Request) -> Response:
    principal = await authenticate(request)
    return JSONResponse(Me.shape(present_me(principal)))


async def list_users(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    limit, status, after = page_limit(request), status_filter(request), request.query_params.get("after")
    rows = await runtime.run(runtime.users.list_users, status=status, after=after, limit=limit + 1)
    body = paged(
        rows,
        limit,
        self_href=request_href(request),
        next_href=lambda last: next_users_href(request, last, limit),
        present=present_user,
    )
    return JSONResponse(UserPage.shape(body))


async def get_user(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    email = request.path_params["email"]
    row = await runtime.run(runtime.users.get_user, email)
    if row is None:
        raise Problem(404, "Not Found", f"no user {email}")
    return JSONResponse(UserRow.shape(present_user(row)))


async def remove_user(request: Request) -> Response:
    principal = await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    check_may_remove(principal, request.path_params["email"])
    user = await runtime.run(runtime.platform.users.remove, request.path_params["email"])
    runtime.current_users.forget(user.email)  # this node: at once; other nodes within the cache's TTL
    await runtime.run(runtime.wait_for_read_models)
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    await authenticate(request, Role.OPERATOR)
    runtime = runtime_of(request)
    secret = new_client_secret()
    hashed = await runtime.run(hash_secret, secret)  # scrypt: CPU-bound, off the event loop
    user = await runtime.run(runtime.platform.users.rotate_secret, request.path_params["email"], hashed)
    runtime.current_users.forget(user.email)
    await runtime.run(runtime.wait_for_read_models)
    links = {"self": {"href": f"{user_href(user.email)}/secret"}, "user": {"href": user_href(user.email)}}
    body = {"email": user.email, "client_id": user.email, "client_secret": secret, "_links": links}
    return JSONResponse(NewSecret.shape(body), headers=NO_STORE)


PAGING = (
    query("limit", "page size, 1-200 (default 50)", type="integer", minimum=1, maximum=200),
    query("after", "the e-mail after which the page starts: follow `next`"),
    query("status", "active (default) or removed", enum=list(STATUSES)),
)

routes: list[BaseRoute] = [
    api_route("GET", API + "/users/me", get_me, Doc("getMe", "Who the caller is", "users", {200: Me})),
    api_route(
        "GET",
        API + "/users",
        list_users,
        Doc("listUsers", "List the users (operators)", "users", {200: UserPage}, problems=(400, 403), params=PAGING),
    ),
    api_route(
        "GET",
        API + "/users/{email}",
        get_user,
        Doc("getUser", "One user, removed ones too (operators)", "users", {200: UserRow}, problems=(403, 404)),
    ),
    api_route(
        "DELETE",
        API + "/users/{email}",
        remove_user,
        Doc(
            "removeUser",
            "Remove a user and revoke their tokens (operators)",
            "users",
            {204: None},
            problems=(403, 404, 409),
            description="409 when already removed, or when operators remove themselves.",
        ),
    ),
    api_route(
        "POST",
        API + "/users/{email}/secret",
        rotate_secret,
        Doc(
            "rotateUserSecret",
            "Rotate a user's client secret, revoking the tokens issued before (operators)",
            "users",
            {200: NewSecret},
            problems=(403, 404, 409),
        ),
    ),
]
