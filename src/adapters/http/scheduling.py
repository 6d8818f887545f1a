"""Tariffs, price series and schedule quotes over REST (docs/scheduling.md).

Who may (``adapters.access``): reading a charger's tariff is reading the charger, asking for a quote is charging
at it (owners, co-owners, guests, operators), setting the tariff is changing its settings (owners, co-owners,
operators); publishing a price series is for operators, reading one for any signed-in user.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, on_charger
from adapters.auth import Role
from adapters.http.common import API, authenticate, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.problems import Problem
from adapters.http.scheduling_schemas import (
    QuoteRequestBody,
    ScheduleQuote,
    SeriesAnswer,
    SeriesRequest,
    TariffAnswer,
    TariffRequest,
)
from cloudbay_domain.charging_schedule import DEFAULT_RATE_UNIT
from cloudbay_domain.planner import to_decimal
from cloudbay_domain.pricing import ChargerTariff, PublishedSeries
from cloudbay_domain.quotes import QuoteRequest, money
from cloudbay_domain.tariff import MAX_PUBLISHED, parse_price
from services.schedules import Quoted

TARIFF = API + "/chargers/{station_id}/tariff"
SERIES = API + "/price-series/{name}"


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def present_tariff(record: ChargerTariff) -> dict[str, Any]:
    charger = f"{API}/chargers/{segment(record.station_id)}"
    links = {"self": {"href": f"{charger}/tariff"}, "charger": {"href": charger}}
    body = {"station_id": record.station_id, "tariff": record.raw, "set_by": record.set_by, "version": record.version}
    return TariffAnswer.shape({**body, "_links": links})


def present_series(record: PublishedSeries) -> dict[str, Any]:
    series = record.series
    span = series.span()
    points = [
        {"start": stamp(datetime.fromtimestamp(q * 900, UTC)), "price_per_kwh": str(series.prices[q])}
        for q in sorted(series.prices)[-MAX_PUBLISHED:]
    ]
    body = {
        "name": record.name,
        "currency": record.currency,
        "start": stamp(span[0]) if span else None,
        "end": stamp(span[1]) if span else None,
        "publications": record.publications,
        "prices": points,
        "version": record.version,
        "_links": {"self": {"href": f"{API}/price-series/{segment(record.name)}"}},
    }
    return SeriesAnswer.shape(body)


def quote_request(body: QuoteRequestBody) -> QuoteRequest:
    """The domain's request from the body: exactly one of energy_kwh (with by), until, max_price (with by)."""
    asked = [name for name in ("energy_kwh", "until", "max_price") if getattr(body, name) is not None]
    if len(asked) != 1 or (asked != ["until"] and body.by is None) or (asked == ["until"] and body.by is not None):
        detail = "ask for one of: energy_kwh with by, until, or max_price with by"
        raise Problem(422, "Unprocessable Content", detail)
    deadline = body.until if body.until is not None else body.by
    assert deadline is not None
    return QuoteRequest(
        by=deadline,
        energy_wh=Fraction(body.energy_kwh) * 1000 if body.energy_kwh is not None else None,
        max_price=Fraction(parse_price(body.max_price, "max_price")) if body.max_price is not None else None,
        max_power_w=Fraction(body.max_power_w) if body.max_power_w is not None else None,
        phases=body.phases,
        min_current_a=Fraction(body.min_current_a) if body.min_current_a is not None else None,
    )


def present_quote(station_id: str, quoted: Quoted) -> dict[str, Any]:
    quote = quoted.quote
    plan, limits = quote.plan, quote.limits
    intervals = [
        {
            "start": stamp(slot.start),
            "end": stamp(slot.end),
            "power_w": str(to_decimal(power, 1)),
            "current_a": str(to_decimal(limits.current_a(power), 1)),
            "price_per_kwh": str(slot.price),
            "energy_kwh": str(money(power * slot.hours / 1000, 3)),
            "cost": str(money(Fraction(slot.price) * power * slot.hours / 1000, 4)),
        }
        for slot, power in zip(plan.slots, plan.powers, strict=True)
        if power > 0
    ]
    alternative = None
    if quote.alternative is not None:
        alternative = {
            "energy_kwh": str(money(quote.alternative.energy_wh / 1000, 3)),
            "earliest_by": stamp(quote.alternative.earliest_by),
        }
    requested = quote.request.energy_wh
    charger = f"{API}/chargers/{segment(station_id)}"
    body = {
        "station_id": station_id,
        "mode": quote.request.mode,
        "feasible": quote.feasible,
        "currency": quote.tariff.currency,
        "charging_rate_unit": DEFAULT_RATE_UNIT,
        "by": stamp(quote.request.by),
        "requested_energy_kwh": str(money(requested / 1000, 3)) if requested is not None else None,
        "energy_kwh": str(money(plan.energy_wh / 1000, 3)),
        "total_cost": str(money(plan.cost)),
        "limits": {
            "max_power_w": str(to_decimal(limits.max_power_w, 1)),
            "phases": limits.phases,
            "min_current_a": str(to_decimal(limits.min_current_a, 1)),
        },
        "intervals": intervals,
        "alternative": alternative,
        "quote_id": quoted.quote_id,
        "expires_at": stamp(quoted.expires_at),
        "_links": {
            "charger": {"href": charger},
            "tariff": {"href": f"{charger}/tariff"},
            "schedules": {"href": f"{charger}/schedules"},
        },
    }
    return ScheduleQuote.shape(body)


async def put_tariff(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.SETTINGS)
    station_id = request.path_params["station_id"]
    body: TariffRequest = await json_body(request, TariffRequest)
    runtime = runtime_of(request)
    raw = body.model_dump(by_alias=True, exclude_none=True)
    record = await runtime.run(runtime.platform.scheduling.set_tariff, station_id, raw, principal.subject)
    return JSONResponse(present_tariff(record))


async def get_tariff(request: Request) -> Response:
    await on_charger(request, Act.READ)
    station_id = request.path_params["station_id"]
    runtime = runtime_of(request)
    return JSONResponse(present_tariff(await runtime.run(runtime.platform.scheduling.tariff_record, station_id)))


async def put_series(request: Request) -> Response:
    principal = await authenticate(request, Role.OPERATOR)
    name = request.path_params["name"]
    body: SeriesRequest = await json_body(request, SeriesRequest)
    runtime = runtime_of(request)
    publish = runtime.platform.scheduling.publish_prices
    args = (name, body.currency, body.start, body.resolution_minutes, body.prices, principal.subject)
    return JSONResponse(present_series(await runtime.run(publish, *args)))


async def get_series(request: Request) -> Response:
    await authenticate(request)
    runtime = runtime_of(request)
    record = await runtime.run(runtime.platform.scheduling.price_series, request.path_params["name"])
    return JSONResponse(present_series(record))


async def post_quote(request: Request) -> Response:
    await on_charger(request, Act.CHARGE)
    station_id = request.path_params["station_id"]
    body: QuoteRequestBody = await json_body(request, QuoteRequestBody)
    runtime = runtime_of(request)
    quoted = await runtime.run(runtime.platform.schedules.quote, station_id, quote_request(body))
    return JSONResponse(present_quote(station_id, quoted))


routes: list[BaseRoute] = [
    api_route(
        "PUT",
        TARIFF,
        put_tariff,
        Doc(
            "putChargerTariff",
            "Set the charger's tariff",
            "scheduling",
            {200: TariffAnswer},
            (403, 404),
            body=TariffRequest,
        ),
    ),
    api_route(
        "GET",
        TARIFF,
        get_tariff,
        Doc("getChargerTariff", "The charger's tariff", "scheduling", {200: TariffAnswer}, (403, 404)),
    ),
    api_route(
        "PUT",
        SERIES,
        put_series,
        Doc(
            "putPriceSeries",
            "Publish prices (15 or 60 minutes) into a price series, adding to or replacing what it had (operators)",
            "scheduling",
            {200: SeriesAnswer},
            (403,),
            body=SeriesRequest,
        ),
    ),
    api_route(
        "GET", SERIES, get_series, Doc("getPriceSeries", "A price series", "scheduling", {200: SeriesAnswer}, (404,))
    ),
    api_route(
        "POST",
        API + "/chargers/{station_id}/schedule-quotes",
        post_quote,
        Doc(
            "quoteSchedule",
            "The cheapest charging plan for a request under the charger's tariff, without committing anything",
            "scheduling",
            {200: ScheduleQuote},
            (403, 404),
            body=QuoteRequestBody,
        ),
    ),
]
