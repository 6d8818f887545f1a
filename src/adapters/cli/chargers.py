"""``cloudbay chargers add|list``: whitelist a charger by hand, list the fleet (by pipeline state, too)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from adapters.cli.common import fail, read_model_rows, settings
from adapters.wiring import build_platform
from cloudbay_domain.charger import InvalidStationId
from cloudbay_domain.device import STATES
from projections.db import ReadModelDB
from projections.fleet import FleetQueries
from services.chargers import ChargerAlreadyWhitelisted

chargers = typer.Typer(help="Whitelist and list chargers.", no_args_is_help=True)
console = Console()


@chargers.command("add")
def chargers_add(
    serial: Annotated[str, typer.Argument(help="serial number = the station id the charger connects with")],
    family: Annotated[str, typer.Option(help="hardware family")] = "default",
) -> None:
    """Whitelist a charger by serial number (outside the production pipeline: its state is whitelisted)."""
    with build_platform(settings()) as platform:
        try:
            charger = platform.chargers.whitelist(serial, family)
        except (InvalidStationId, ChargerAlreadyWhitelisted) as e:
            raise fail(str(e)) from None
    console.print(f"whitelisted {charger.station_id} (family {charger.hardware_family}, id {charger.id})")


def fleet_rows(state: str | None) -> list[dict[str, object]]:
    def query(db: ReadModelDB) -> list[dict[str, object]]:
        none = dict.fromkeys(("presence", "status", "family", "after"))
        return FleetQueries(db).list_chargers(**none, limit=100_000, state=state)

    return read_model_rows(query)


@chargers.command("list")
def chargers_list(
    state: Annotated[str | None, typer.Option(help=f"only chargers in this state: {', '.join(STATES)}")] = None,
) -> None:
    """List the fleet from the read model (as the running service last projected it): station id, presence,
    family, firmware, pipeline state, MAC address."""
    if state is not None and state not in STATES:
        raise fail(f"--state must be one of {', '.join(STATES)}", 2)
    for row in fleet_rows(state):
        fields = (row["presence"], row["hardware_family"], row["firmware_version"] or "-", row["state"])
        typer.echo("\t".join(str(f) for f in (row["station_id"], *fields, row["mac_address"] or "-")))
