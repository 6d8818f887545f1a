"""``cloudbay firmware set-stable|show``: a hardware family's latest stable firmware."""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli.common import fail, settings
from adapters.wiring import build_platform
from cloudbay_domain.firmware import InvalidFirmware
from cloudbay_domain.text import InvalidText
from services.firmware import UnknownFamily

firmware = typer.Typer(help="The latest stable firmware of each hardware family.", no_args_is_help=True)


@firmware.command("set-stable")
def set_stable(
    family: Annotated[str, typer.Argument(help="the hardware family, as named in production batches")],
    version: Annotated[str, typer.Argument(help="the version, as chargers report it at boot")],
    location: Annotated[str, typer.Option(help="the image's http:// or https:// URL")],
    by: Annotated[str, typer.Option(help="who sets it, as recorded")] = "cli",
) -> None:
    """Set the family's stable firmware: its enrolled chargers are sent it at their next boot, then ready."""
    with build_platform(settings()) as platform:
        try:
            record = platform.firmware.set_stable(family, version, location, by)
        except (InvalidFirmware, InvalidText) as e:
            raise fail(str(e), 2) from None
    typer.echo(f"{record.family}: stable firmware {record.stable_version} at {record.stable_location}")


@firmware.command("show")
def show(family: Annotated[str, typer.Argument(help="the hardware family")]) -> None:
    """Print the family's stable firmware version and image location."""
    with build_platform(settings()) as platform:
        try:
            record = platform.firmware.family(family)
        except (UnknownFamily, InvalidFirmware) as e:
            raise fail(str(e)) from None
    typer.echo(f"{record.family}\t{record.stable_version or '-'}\t{record.stable_location or '-'}")
