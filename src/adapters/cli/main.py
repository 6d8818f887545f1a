"""The ``cloudbay`` command: run the service, manage the fleet and users, rebuild read models."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from adapters import gc_tuning
from adapters.auth import AuthSettings, Role, SigningKey, TokenIssuer
from adapters.cli import guard, version
from adapters.cli import users as users_commands
from adapters.cli.batches import batches
from adapters.cli.batches import keys as manufacturing_keys
from adapters.cli.ca import ca
from adapters.cli.chargers import chargers
from adapters.cli.common import fail, settings
from adapters.cli.firmware import firmware
from adapters.cli.openapi import openapi
from adapters.cli.outbox import outbox
from adapters.cli.prices import price_series
from adapters.cli.rebuild import rebuild_all, replay_progress
from adapters.cli.rollouts import rollouts
from adapters.cli.serve import configure_logging, serve
from adapters.cli.signing_key import signing_key
from adapters.oauth import hash_secret, new_client_secret
from adapters.wiring import build_log, build_platform
from cloudbay_domain.user import InvalidEmail, UserRole
from projections.db import ReadModelDB
from services.users import UnknownUser, UserAlreadyExists

app = guard.GuardedTyper(  # operator mistakes (database away, missing key, bad setting): one line, no traceback
    help="CloudBay: an event-sourced charging station management system (OCPP 2.0.1).", no_args_is_help=True
)
users = typer.Typer(help="Manage operators and users.", no_args_is_help=True)
app.add_typer(chargers, name="chargers")
app.add_typer(users, name="users")
app.add_typer(batches, name="batches")
app.add_typer(manufacturing_keys, name="manufacturing-key")
app.add_typer(ca, name="ca")
app.add_typer(firmware, name="firmware")
app.add_typer(price_series, name="price-series")
app.add_typer(rollouts, name="rollouts")
app.callback()(version.root_options)  # cloudbay --version
console, err = Console(), Console(stderr=True)


@app.command()
def project(
    parent: Annotated[int | None, typer.Option(help="stop when this process is gone")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Keep the read models up to date (started by `cloudbay serve`; run it alone to project elsewhere)."""
    from adapters.projector import run_projector

    configure_logging(log_level)
    run_projector(settings(), parent_pid=parent)


@users.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="the user's e-mail; also the OAuth2 client id")],
    role: Annotated[UserRole, typer.Option(help="operator or user")] = UserRole.USER,
) -> None:
    """Register a user and print their client secret (shown once; stored hashed)."""
    secret = new_client_secret()
    with build_platform(settings()) as platform:
        try:
            user = platform.users.register(email, role, hash_secret(secret))
        except (InvalidEmail, UserAlreadyExists) as e:
            raise fail(str(e)) from None
    console.print(f"registered {user.email} as {user.role.value}")
    console.print(f"client id:     {user.email}\nclient secret: {secret}")


@app.command()
def token(
    email: Annotated[str, typer.Argument(help="the user to issue a token for")],
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """Print an access token for a registered user, signed by the embedded issuer."""
    s = settings()
    with build_platform(s) as platform:
        try:
            user = platform.users.get(email)
        except UnknownUser as e:
            raise fail(str(e)) from None
    issuer = TokenIssuer(SigningKey.load(s.signing_key_path), AuthSettings(s.oauth_issuer, s.oauth_audience))
    typer.echo(issuer.issue(user.email, [Role(user.role.value)], ttl_seconds=ttl, generation=user.generation))


@app.command()
def replay(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary instead of progress")] = False,
) -> None:
    """Drop every read model and rebuild it from the event log."""
    gc_tuning.tune()  # a rebuild allocates for every event, and its garbage is nearly all freed by refcounts
    s = settings()
    event_log = build_log(s)
    db = ReadModelDB(s.store)
    head = event_log.recorder.max_notification_id() or 0
    try:
        with replay_progress(err, disable=as_json) as progress:
            summary = rebuild_all(event_log, db, head, progress)
    finally:
        db.close()
        event_log.close()
    show_summary(head, summary, as_json)
    end_without_teardown()


def show_summary(head: int, summary: dict[str, dict[str, int]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"head": head, "projections": summary}))
    else:
        console.print(f"rebuilt {', '.join(summary)} up to position {head}")


def end_without_teardown() -> None:
    """End the process at once when this command is the program (not a test runner's call): a rebuild leaves a
    heap of a million objects (the transactions' states) that the interpreter took 1.3-2.4 s to collect and free
    at exit, a fifth of a 100,000-event replay. The stores are closed and the output written by now."""
    if getattr(sys.modules.get("__main__"), "app", None) is app:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@app.command()
def simulate(
    chargers: Annotated[int, typer.Option(min=1, help="how many simulated chargers")] = 1,
    url: Annotated[str, typer.Option(help="OCPP endpoint; each charger connects to URL/<id>")] = (
        "ws://127.0.0.1:8080/ocpp"
    ),
    prefix: Annotated[str, typer.Option(help="station ids are PREFIX-0001, PREFIX-0002, ...")] = "SIM",
    transactions: Annotated[int, typer.Option(min=0, help="per charger, one after another; 0 = until --seconds")] = 1,
    meter_interval: Annotated[float, typer.Option(min=0.0, help="seconds between meter values")] = 1.0,
    samples: Annotated[int, typer.Option(min=0, help="TransactionEvent Updated messages per transaction")] = 5,
    rfid: Annotated[str | None, typer.Option(help="card the chargers present (Authorize, idToken)")] = None,
    token: Annotated[str | None, typer.Option(help="operator bearer token: whitelist, register --rfid")] = None,
    api: Annotated[str, typer.Option(help="REST API base URL, used with --token")] = "http://127.0.0.1:8080",
    seconds: Annotated[float | None, typer.Option(min=0.1, help="bound of the whole run")] = None,
    linger: Annotated[bool, typer.Option(help="stay connected after the transactions (remote start/stop)")] = False,
) -> None:
    """Drive simulated OCPP 2.0.1 chargers against a running CSMS; exit 1 if any call failed."""
    simulate_chargers(
        api=api,
        token=token,
        url=url,
        chargers=chargers,
        prefix=prefix,
        transactions=transactions,
        meter_interval=meter_interval,
        samples=samples,
        rfid=rfid,
        seconds=seconds,
        linger=linger,
    )


def simulate_chargers(
    *,
    api: str,
    token: str | None,
    url: str,
    chargers: int,
    prefix: str,
    transactions: int,
    meter_interval: float,
    samples: int,
    rfid: str | None,
    seconds: float | None,
    linger: bool,
) -> None:
    """Check the options, run the simulation to its end, print its summary; exit 1 if any call failed."""
    import asyncio

    from cloudbay_sim.simulator import SimConfig, run_simulation

    if (transactions == 0 or linger) and seconds is None:
        raise fail("--transactions 0 and --linger need --seconds", 2)
    config = SimConfig(
        url=url,
        chargers=chargers,
        prefix=prefix,
        transactions=transactions,
        meter_interval=meter_interval,
        samples=samples,
        rfid=rfid,
        seconds=seconds,
        linger=linger,
    )
    stats = asyncio.run(run_simulation(config, api=api, token=token))
    typer.echo(stats.summary())
    if stats.errors:
        raise typer.Exit(1)


users.registered_commands += users_commands.commands.registered_commands  # list, remove, rotate-secret


app.command()(serve)
app.command()(openapi)
app.command()(signing_key)
app.command()(outbox)


if __name__ == "__main__":
    app()
