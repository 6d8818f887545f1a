"""``cloudbay price-series import|show``: an operator's day-ahead prices from a CSV file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from adapters.cli.common import fail, settings
from adapters.wiring import build_platform
from cloudbay_domain.tariff import MAX_PUBLISHED, InvalidTariff
from cloudbay_domain.text import InvalidText
from services.scheduling import UnknownPriceSeries

price_series = typer.Typer(help="Day-ahead price series that tariffs may follow.", no_args_is_help=True)


def read_prices(text: str, resolution_minutes: int) -> list[tuple[datetime, list[str]]]:
    """A CSV file's prices (a ``start,price_per_kwh`` header, then one row per interval, in time order, each
    start with its UTC offset) as publications: runs of consecutive intervals, at most a week each."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or set(rows[0]) != {"start", "price_per_kwh"}:
        raise InvalidTariff("the CSV file has a header start,price_per_kwh and at least one row")
    step, per = timedelta(minutes=resolution_minutes), MAX_PUBLISHED * 15 // resolution_minutes
    runs: list[tuple[datetime, list[str]]] = []
    expected: datetime | None = None
    for n, row in enumerate(rows, start=2):
        try:
            start = datetime.fromisoformat(row["start"])
        except (TypeError, ValueError):
            raise InvalidTariff(f"line {n}: start is an ISO 8601 time with its offset, not {row['start']!r}") from None
        if expected is None or start != expected or len(runs[-1][1]) >= per:
            runs.append((start, []))
        runs[-1][1].append(row["price_per_kwh"])
        expected = start + step
    return runs


@price_series.command("import")
def import_prices(
    name: Annotated[str, typer.Argument(help="the series' name, e.g. day-ahead")],
    path: Annotated[Path, typer.Argument(help="a CSV file: start,price_per_kwh", exists=True, dir_okay=False)],
    currency: Annotated[str, typer.Option(help="ISO 4217, e.g. CHF")],
    resolution: Annotated[int, typer.Option(help="minutes per price: 15 or 60")] = 60,
    by: Annotated[str, typer.Option(help="who publishes, as recorded")] = "cli",
) -> None:
    """Publish a CSV file's prices into the series (adding to it; the intervals it covers are replaced)."""
    try:
        runs = read_prices(path.read_text(encoding="utf-8"), resolution)
        with build_platform(settings()) as platform:
            for start, prices in runs:
                record = platform.scheduling.publish_prices(name, currency, start, resolution, prices, by)
    except (InvalidTariff, InvalidText, UnicodeDecodeError) as e:
        raise fail(str(e), 2) from None
    typer.echo(f"{record.name}: {sum(len(p) for _, p in runs)} prices published in {len(runs)} publication(s)")


@price_series.command("show")
def show(name: Annotated[str, typer.Argument(help="the series' name")]) -> None:
    """Print the series' quarter-hour prices, one per line (start, price)."""
    with build_platform(settings()) as platform:
        try:
            series = platform.scheduling.price_series(name).series
        except (UnknownPriceSeries, InvalidTariff) as e:
            raise fail(str(e)) from None
    for quarter in sorted(series.prices):
        typer.echo(f"{datetime.fromtimestamp(quarter * 900, UTC).isoformat()}\t{series.prices[quarter]}")
