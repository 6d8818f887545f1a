"""Tariffs, price series and schedule quotes: load → command → save for the first two, a pure plan for quotes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from cloudbay_domain.charging_cost import Cost, TariffHistory, transaction_cost
from cloudbay_domain.planner import InvalidPlanRequest
from cloudbay_domain.pricing import ChargerTariff, PublishedSeries
from cloudbay_domain.quotes import Quote, QuoteRequest, make_quote
from cloudbay_domain.tariff import InvalidTariff, PriceSeries, Tariff, check_series_name, parse_currency
from cloudbay_domain.transaction import Transaction
from services.chargers import Chargers, not_whitelisted
from services.errors import ServiceError
from services.store import EventLog


class NoTariff(ServiceError):
    """The charger has no tariff yet."""


class UnknownPriceSeries(ServiceError):
    """No price series of that name was published."""


class Scheduling:
    def __init__(self, log: EventLog, chargers: Chargers, clock: Callable[[], datetime] | None = None) -> None:
        self.log, self.chargers = log, chargers
        # the power the charger's site guarantees it (None: on no site): a plan never counts on more
        self.site_cap: Callable[[str], Fraction | None] = lambda station_id: None
        self.clock = clock or (lambda: datetime.now(UTC))

    # --- tariffs -------------------------------------------------------------------------------

    def set_tariff(self, station_id: str, raw: Mapping[str, Any], by: str) -> ChargerTariff:
        """Set the charger's tariff (every field refused with a reason before anything is written)."""
        if not self.chargers.exists(station_id):
            raise not_whitelisted(station_id)
        tariff = Tariff.parse(raw)
        if tariff.series is not None:
            followed = self._series_or_none(tariff.series)
            if followed is None:
                raise InvalidTariff(f"no price series named {tariff.series} was published")
            if followed.currency != tariff.currency:
                raise InvalidTariff(f"price series {tariff.series} is in {followed.currency}, not {tariff.currency}")

        def attempt() -> tuple[ChargerTariff, list[Any]]:
            record: ChargerTariff | None = self.log.load_or_none(ChargerTariff.create_id(station_id))
            record = record if record is not None else ChargerTariff(station_id)
            record.set(tariff, by)
            return record, [record]

        return self.log.retrying(attempt, f"tariff of {station_id}")

    def tariff_record(self, station_id: str) -> ChargerTariff:
        if not self.chargers.exists(station_id):
            raise not_whitelisted(station_id)
        record: ChargerTariff | None = self.log.load_or_none(ChargerTariff.create_id(station_id))
        if record is None or record.raw is None:
            raise NoTariff(f"charger {station_id} has no tariff; set one with PUT .../tariff")
        return record

    # --- price series --------------------------------------------------------------------------

    def publish_prices(
        self, name: str, currency: str, start: datetime, resolution_minutes: int, prices: list[str], by: str
    ) -> PublishedSeries:
        check_series_name(name)
        parse_currency(currency)

        def attempt() -> tuple[PublishedSeries, list[Any]]:
            record: PublishedSeries | None = self.log.load_or_none(PublishedSeries.create_id(name))
            record = record if record is not None else PublishedSeries(name, currency)
            record.publish(currency, start, resolution_minutes, prices, by)
            return record, [record]

        return self.log.retrying(attempt, f"price series {name}")

    def price_series(self, name: str) -> PublishedSeries:
        """The series (any name that could not be published is simply not found)."""
        missing = UnknownPriceSeries(f"no price series named {name} was published")
        record: PublishedSeries = self.log.load(PublishedSeries.create_id(name), missing)
        return record

    def _series_or_none(self, name: str) -> PriceSeries | None:
        record: PublishedSeries | None = self.log.load_or_none(PublishedSeries.create_id(name))
        return record.series if record is not None else None

    # --- quotes --------------------------------------------------------------------------------

    def quote(self, station_id: str, request: QuoteRequest, now: datetime | None = None) -> Quote:
        """The cheapest plan for ``request`` on the charger from ``now`` (default: now), under its tariff;
        nothing is recorded."""
        tariff = self.tariff_record(station_id).tariff
        assert tariff is not None
        series = self._series_or_none(tariff.series) if tariff.series else None
        cap = self.site_cap(station_id)
        if cap is not None:  # the circuits' limits hold for the plan too, whoever else plugs in meanwhile
            if cap <= 0:
                raise InvalidPlanRequest(f"the site of {station_id} guarantees it no power to plan with")
            asked = request.max_power_w
            request = dataclasses.replace(request, max_power_w=cap if asked is None else min(asked, cap))
        return make_quote(tariff, series, request, now or self.clock())

    # --- costs ---------------------------------------------------------------------------------

    def transaction_cost(self, station_id: str, transaction_id: str) -> Cost | None:
        """What the transaction cost so far, at the tariff in force in each interval it charged (None: the
        charger has no tariff, or there is no such transaction)."""
        record: ChargerTariff | None = self.log.load_or_none(ChargerTariff.create_id(station_id))
        tx: Transaction | None = self.log.load_or_none(Transaction.create_id(station_id, transaction_id))
        if record is None or tx is None:
            return None
        return transaction_cost(tx.samples, TariffHistory(record.tariffs()), self._series_or_none)
