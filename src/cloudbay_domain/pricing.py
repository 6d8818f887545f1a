"""The stored side of pricing: a charger's tariff (``ChargerTariff``, one small aggregate per charger, so the
charger's own stream does not grow with price changes) and an operator's price series (``PublishedSeries``).
Events carry the JSON form (prices as text, never floats); the value objects are in ``tariff``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.tariff import InvalidTariff, PriceSeries, Tariff, parse_publication

KEPT_QUARTERS = 400 * 96  # a series keeps its last 400 days of quarter-hour prices
KEPT_TARIFFS = 200  # a charger's tariff history keeps the last 200 tariffs set (costs of older sessions: the oldest)


class ChargerTariff(Aggregate):
    """The tariff in force on one charger, and who set it."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:charger-tariff:{station_id}")

    class Created(Aggregate.Created):
        station_id: str

    @event(Created)
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.raw: dict[str, Any] | None = None
        self.set_by: str | None = None
        self.history: list[tuple[datetime, dict[str, Any]]] = []  # (when set, the tariff), the last KEPT_TARIFFS

    class TariffSet(Aggregate.Event):
        tariff: dict[str, Any]
        by: str

        def mutate(self, aggregate: Any) -> Any:
            """Also keep when each tariff came into force (the event's own time: old events replay as set)."""
            aggregate = super().mutate(aggregate)
            kept = getattr(aggregate, "history", [])
            aggregate.history = [*kept, (self.timestamp, self.tariff)][-KEPT_TARIFFS:]
            return aggregate

    def set(self, tariff: Tariff, by: str) -> None:
        self._set(tariff=tariff.to_json(), by=by)

    @event(TariffSet)
    def _set(self, tariff: dict[str, Any], by: str) -> None:
        self.raw, self.set_by = tariff, by

    @property
    def tariff(self) -> Tariff | None:
        return Tariff.parse(self.raw) if self.raw is not None else None

    def tariffs(self) -> list[tuple[datetime, Tariff]]:
        """Each tariff with the time it was set, oldest first."""
        return [(since, Tariff.parse(raw)) for since, raw in self.history]


class PublishedSeries(Aggregate):
    """A named price series (day-ahead prices): each publication adds or replaces quarter-hour prices."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:price-series:{name}")

    class Created(Aggregate.Created):
        name: str
        currency: str

    @event(Created)
    def __init__(self, name: str, currency: str) -> None:
        self.name, self.currency = name, currency
        self.prices: dict[int, Decimal] = {}
        self.publications = 0

    class PricesPublished(Aggregate.Event):
        start: str  # ISO 8601 with its offset
        resolution_minutes: int
        prices: list[str]
        by: str

    def publish(self, currency: str, start: datetime, resolution_minutes: int, prices: list[str], by: str) -> None:
        if currency != self.currency:
            raise InvalidTariff(f"price series {self.name} is in {self.currency}, not {currency}")
        parse_publication(start, resolution_minutes, prices)  # refused before anything is recorded
        self._published(start=start.isoformat(), resolution_minutes=resolution_minutes, prices=prices, by=by)

    @event(PricesPublished)
    def _published(self, start: str, resolution_minutes: int, prices: list[str], by: str) -> None:
        self.prices.update(parse_publication(datetime.fromisoformat(start), resolution_minutes, prices))
        if len(self.prices) > KEPT_QUARTERS:
            for quarter in sorted(self.prices)[: len(self.prices) - KEPT_QUARTERS]:
                del self.prices[quarter]
        self.publications += 1

    @property
    def series(self) -> PriceSeries:
        return PriceSeries(self.name, self.currency, dict(self.prices))
