"""RFID cards and guest tokens over REST (C01, D01): each change is pushed to the local lists of the chargers
their user owns or co-owns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import check_may_act_for, check_may_see, is_operator
from adapters.http import schemas
from adapters.http.common import API, PAGE_PARAMS, authenticate, json_body, page_limit, runtime_of, segment
from adapters.http.etag import etag, if_match
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged
from cloudbay_domain.id_token import IdToken, TokenKind
from projections.members import stations_of
from services.local_lists import CARD_HOLDERS

if TYPE_CHECKING:
    from adapters.wiring import Runtime


class CardRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id_token": "04A1B2C3", "kind": "rfid", "label": "blue card"}]}
    )
    id_token: str = Field(min_length=1, max_length=36)
    type: Literal["ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "EMAID", "eMAID"] = "ISO14443"
    kind: TokenKind = TokenKind.RFID
    label: str = Field(default="", max_length=64)
    user: str | None = Field(default=None, description="whose card; operators only, default: the caller")


def present_token(token: IdToken) -> dict[str, Any]:
    href = f"{API}/rfid-cards/{segment(token.value)}"
    return {
        "id_token": token.value,
        "type": token.token_type,
        "kind": token.kind.value,
        "user": token.user,
        "label": token.label,
        "status": token.status.value,
        "authorization": token.ocpp_status,
        "_links": {
            "self": {"href": href},
            "transactions": {"href": f"{API}/transactions?{urlencode({'card': token.value})}"},
        },
    }


async def push_cards_of(runtime: Runtime, user: str) -> None:
    """A user's cards changed: the local lists of the chargers they own or co-own (and only those) follow."""
    runtime.platform.sync.push_local_list(await runtime.run(stations_of, runtime.db, user, CARD_HOLDERS))


async def register_card(request: Request) -> Response:
    principal = await authenticate(request)
    body: CardRequest = await json_body(request, CardRequest)
    user = body.user or principal.subject
    check_may_act_for(principal, user, "registering a card for another user")
    runtime = runtime_of(request)
    platform = runtime.platform
    register, operator = platform.id_tokens.register, is_operator(principal)
    token = await platform.run(register, body.id_token, body.type, user, body.kind, body.label, operator=operator)
    await runtime.run(runtime.wait_for_read_models)  # read-your-writes: the card list shows it once answered
    await push_cards_of(runtime, token.user)
    out = schemas.Card.shape(present_token(token))
    return JSONResponse(
        out, status_code=201, headers={"Location": out["_links"]["self"]["href"], **etag(token.version)}
    )


async def get_card(request: Request) -> Response:
    principal = await authenticate(request)
    platform = runtime_of(request).platform
    token = await platform.run(platform.id_tokens.get, request.path_params["value"])
    check_may_see(principal, token.user, f"no id token {request.path_params['value']}")
    return JSONResponse(schemas.Card.shape(present_token(token)), headers=etag(token.version))


def present_card_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "_links": {"self": {"href": f"{API}/rfid-cards/{segment(row['id_token'])}"}}}


def next_cards_href(last: dict[str, Any], limit: int, user: str | None) -> str:
    more = f"&user={user}" if user else ""
    return f"{API}/rfid-cards?after={last['id_token']}&limit={limit}{more}"


async def list_cards(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    user = request.query_params.get("user") or (None if is_operator(principal) else principal.subject)
    check_may_act_for(principal, user if user else None, "the card list of every user")
    limit = page_limit(request)
    after = request.query_params.get("after")
    rows = await runtime.run(runtime.id_tokens.list_tokens, user=user, after=after, limit=limit + 1)
    body = paged(
        rows,
        limit,
        self_href=f"{API}/rfid-cards",
        next_href=lambda last: next_cards_href(last, limit, user),
        present=present_card_row,
    )
    return JSONResponse(schemas.CardPage.shape(body))


def change_card(action: str) -> Any:
    async def endpoint(request: Request) -> Response:
        principal = await authenticate(request)
        runtime = runtime_of(request)
        platform = runtime.platform
        value, operator, expected = request.path_params["value"], is_operator(principal), if_match(request)
        change = platform.id_tokens.change
        token = await platform.run(
            change, value, action, acting_user=principal.subject, operator=operator, expected=expected
        )
        await runtime.run(runtime.wait_for_read_models)  # read-your-writes: a GET right after shows the change
        await push_cards_of(runtime, token.user)
        if action == "remove":
            return Response(status_code=204, headers=etag(token.version))
        return JSONResponse(schemas.Card.shape(present_token(token)), headers=etag(token.version))

    return endpoint


def change_doc(action: str, summary: str, answers: dict[int, type[schemas.Body] | None]) -> Doc:
    return Doc(f"{action}Card", summary, "rfid-cards", answers, (403, 404, 409), if_match=True, etag=True)


CARD_LIST_PARAMS = (
    query("user", "whose cards (operators; a user sees only their own)"),
    query("after", "the last id token of the previous page (follow `next`)"),
    *PAGE_PARAMS,
)
routes: list[BaseRoute] = [
    api_route(
        "POST",
        API + "/rfid-cards",
        register_card,
        Doc(
            "registerCard",
            "Register an RFID card or a guest token (pushed to the chargers' local lists)",
            "rfid-cards",
            {201: schemas.Card},
            (403, 409),
            body=CardRequest,
            location=(201,),
            etag=True,
        ),
    ),
    api_route(
        "GET",
        API + "/rfid-cards",
        list_cards,
        Doc("listCards", "List cards", "rfid-cards", {200: schemas.CardPage}, (400, 403), params=CARD_LIST_PARAMS),
    ),
    api_route(
        "GET",
        API + "/rfid-cards/{value}",
        get_card,
        Doc("getCard", "One card", "rfid-cards", {200: schemas.Card}, (403, 404), etag=True),
    ),
    api_route(
        "DELETE", API + "/rfid-cards/{value}", change_card("remove"), change_doc("remove", "Remove a card", {204: None})
    ),
    api_route(
        "POST",
        API + "/rfid-cards/{value}/block",
        change_card("block"),
        change_doc("block", "Block a card", {200: schemas.Card}),
    ),
    api_route(
        "POST",
        API + "/rfid-cards/{value}/unblock",
        change_card("unblock"),
        change_doc("unblock", "Unblock a card", {200: schemas.Card}),
    ),
]
