"""Charging history over REST: transactions (listed, one by one) and energy per day or month.

Answered from the ``transactions`` and ``energy`` read models; who may read what is decided by
:func:`adapters.access.visible_to`. The live feed of the same transactions is ``adapters.http.live`` (routed here).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, WebSocketRoute

from adapters.access import Act, Actor, on_charger, visible_to
from adapters.http import schemas
from adapters.http.chargers import API, authenticate, charger_links, page_limit, runtime_of
from adapters.http.common import PAGE_PARAMS
from adapters.http.live import live_endpoint
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged, params_without_after, request_href
from adapters.http.problems import Problem
from cloudbay_domain.charging_cost import Cost
from cloudbay_domain.id_token import IdTokenError, normalise_token
from cloudbay_domain.quotes import money
from projections.energy import PERIODS
from projections.transactions import Visibility, utc_iso


def transaction_links(row: dict[str, Any]) -> dict[str, Any]:
    charger = f"{API}/chargers/{row['station_id']}"
    links = {"self": {"href": f"{charger}/transactions/{row['transaction_id']}"}, "charger": {"href": charger}}
    if row["status"] == "active":
        links["stop"] = {"href": f"{charger}/transactions/{row['transaction_id']}/stop"}
    return links


def present(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "_links": transaction_links(row)}


def encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["started_at"], row["id"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        started_at, tx_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(started_at, str) and isinstance(tx_id, str):
            return started_at, tx_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise Problem(400, "Bad Request", "after is not a cursor this API gave out")


def timestamp_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return utc_iso(datetime.fromisoformat(raw))
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-01:00 is past datetime.max in UTC
        raise Problem(400, "Bad Request", f"{name} must be an ISO-8601 date or timestamp") from None


def date_param(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise Problem(400, "Bad Request", f"{name} must be a date, YYYY-MM-DD") from None


def choice_param(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in choices:
        raise Problem(400, "Bad Request", f"{name} must be one of {', '.join(choices)}")
    return value


def card_param(request: Request) -> str | None:
    card = request.query_params.get("card")
    try:
        return normalise_token(card) if card is not None else None
    except IdTokenError as e:
        raise Problem(400, "Bad Request", f"card: {e}") from None


@dataclass(frozen=True)
class TransactionQuery:
    """The transaction list's query parameters, checked in the order their refusals are answered."""

    charger: str | None
    user: str | None
    card: str | None
    limit: int
    status: str | None
    started_from: str | None
    started_before: str | None
    after: tuple[str, str] | None

    @classmethod
    def parse(cls, request: Request, visibility: Visibility) -> TransactionQuery:
        q = request.query_params
        user = q.get("user")
        if user is not None and not visibility.allows_user(user) and not visibility.stations:
            raise Problem(403, "Forbidden", "you may list only your own transactions (and those on your chargers)")
        return cls(
            charger=q.get("charger"),
            user=user,
            card=card_param(request),
            limit=page_limit(request),
            status=choice_param(request, "status", ("active", "ended")),
            started_from=timestamp_param(request, "from"),
            started_before=timestamp_param(request, "to"),
            after=decode_cursor(q["after"]) if "after" in q else None,
        )

    def filters(self) -> dict[str, Any]:
        """The keyword arguments of ``TransactionQueries.list_transactions``, one row more than a page."""
        return {
            "station_id": self.charger,
            "user": self.user,
            "id_token": self.card,
            "status": self.status,
            "started_from": self.started_from,
            "started_before": self.started_before,
            "after": self.after,
            "limit": self.limit + 1,
        }


def next_transactions_href(request: Request, last: dict[str, Any]) -> str:
    params = {**params_without_after(request), "after": encode_cursor(last)}
    return f"{API}/transactions?{urlencode(params)}"


async def list_transactions(request: Request) -> Response:
    runtime = runtime_of(request)
    visibility = await visible_to(runtime, await authenticate(request))
    query = TransactionQuery.parse(request, visibility)
    rows = await runtime.run(runtime.transactions.list_transactions, visibility, **query.filters())
    body = paged(
        rows,
        query.limit,
        self_href=request_href(request),
        next_href=lambda last: next_transactions_href(request, last),
        present=present,
    )
    return JSONResponse(schemas.TransactionPage.shape(body))


async def get_transaction(request: Request) -> Response:
    """A transaction the caller may not see is answered 404, as if it did not exist (nothing leaks)."""
    runtime = runtime_of(request)
    visibility = await visible_to(runtime, await authenticate(request))
    station_id, transaction_id = request.path_params["station_id"], request.path_params["transaction_id"]
    row = await runtime.run(runtime.transactions.get_transaction, visibility, station_id, transaction_id)
    if row is None:
        raise Problem(404, "Not Found", f"no transaction {transaction_id} on {station_id}")
    cost = await runtime.run(runtime.platform.scheduling.transaction_cost, station_id, transaction_id)
    return JSONResponse(schemas.Transaction.shape({**present(row), "cost": present_cost(cost)}))


def present_cost(cost: Cost | None) -> dict[str, str] | None:
    if cost is None:
        return None
    return {
        "currency": cost.currency,
        "amount": str(money(cost.amount)),
        "priced_energy_kwh": str(money(cost.priced_wh / 1000, 3)),
    }


def energy_range(request: Request) -> tuple[str, date | None, date | None]:
    period = choice_param(request, "period", tuple(PERIODS)) or "day"
    return period, date_param(request, "from"), date_param(request, "to")


async def charger_energy(request: Request) -> Response:
    _, who = await on_charger(request, Act.ENERGY)
    runtime = runtime_of(request)
    station_id = request.path_params["station_id"]
    period, first, last = energy_range(request)
    if who is Actor.OPERATOR and await runtime.run(runtime.fleet.get_charger, station_id) is None:
        raise Problem(404, "Not Found", f"no charger {station_id}")
    items = await runtime.run(runtime.energy.for_charger, station_id, period, first, last)
    links = {"self": {"href": f"{API}/chargers/{station_id}/energy"}, "charger": charger_links(station_id)["self"]}
    body = {"station_id": station_id, "period": period, "items": items, "_links": links}
    return JSONResponse(schemas.ChargerEnergy.shape(body))


async def my_energy(request: Request) -> Response:
    principal = await authenticate(request)
    runtime = runtime_of(request)
    period, first, last = energy_range(request)
    items = await runtime.run(runtime.energy.for_user, principal.subject, period, first, last)
    links = {"self": {"href": f"{API}/users/me/energy"}, "transactions": {"href": f"{API}/transactions"}}
    body = {"user": principal.subject, "period": period, "items": items, "_links": links}
    return JSONResponse(schemas.UserEnergy.shape(body))


TRANSACTION_PARAMS = (
    query("charger", "station id"),
    query("user", "e-mail of the user charged (a user may name only themselves)"),
    query("card", "id token, case-insensitive"),
    query("status", "active or ended", enum=["active", "ended"]),
    query("from", "started at or after: ISO-8601 date or timestamp (no offset = UTC)"),
    query("to", "started before: ISO-8601 date or timestamp"),
    query("after", "the opaque cursor of the next page (follow `next`)"),
    *PAGE_PARAMS,
)
ENERGY_PARAMS = (
    query("period", "day (default) or month", enum=list(PERIODS)),
    query("from", "first day, inclusive: YYYY-MM-DD", format="date"),
    query("to", "last day, inclusive: YYYY-MM-DD", format="date"),
)
routes: list[BaseRoute] = [
    api_route(
        "GET",
        f"{API}/transactions",
        list_transactions,
        Doc(
            "listTransactions",
            "Charging history, newest first",
            "transactions",
            {200: schemas.TransactionPage},
            (400, 403),
            params=TRANSACTION_PARAMS,
        ),
    ),
    api_route(
        "GET",
        API + "/chargers/{station_id}/transactions/{transaction_id}",
        get_transaction,
        Doc("getTransaction", "One transaction and its figures", "transactions", {200: schemas.Transaction}, (404,)),
    ),
    api_route(
        "GET",
        API + "/chargers/{station_id}/energy",
        charger_energy,
        Doc(
            "getChargerEnergy",
            "A charger's energy per day or month",
            "energy",
            {200: schemas.ChargerEnergy},
            (400, 403, 404),
            params=ENERGY_PARAMS,
        ),
    ),
    api_route(
        "GET",
        f"{API}/users/me/energy",
        my_energy,
        Doc(
            "getMyEnergy",
            "The caller's energy per day or month",
            "energy",
            {200: schemas.UserEnergy},
            (400,),
            params=ENERGY_PARAMS,
        ),
    ),
    WebSocketRoute(f"{API}/live", live_endpoint),
]
