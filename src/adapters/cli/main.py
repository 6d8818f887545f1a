"""The ``cloudbay`` command: run the service, manage the fleet and users, rebuild read models."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from adapters import logs
from adapters.auth import AuthSettings, Role, SigningKey, TokenIssuer
from adapters.cli import guard, version
from adapters.cli import users as users_commands
from adapters.cli.batches import batches
from adapters.cli.batches import keys as manufacturing_keys
from adapters.cli.ca import ca
from adapters.cli.chargers import chargers
from adapters.cli.common import fail, settings
from adapters.cli.openapi import openapi
from adapters.cli.rebuild import rebuild_all, replay_progress
from adapters.cli.signing_key import signing_key
from adapters.oauth import hash_secret, new_client_secret
from adapters.settings import Settings
from adapters.wiring import build_log, build_platform
from cloudbay_domain.user import InvalidEmail, UserRole
from projections.db import ReadModelDB
from services.users import UnknownUser, UserAlreadyExists

if TYPE_CHECKING:
    from adapters.projector import ProjectorProcess

app = guard.GuardedTyper(  # operator mistakes (database away, missing key, bad setting): one line, no traceback
    help="CloudBay: an event-sourced charging station management system (OCPP 2.0.1).", no_args_is_help=True
)
users = typer.Typer(help="Manage operators and users.", no_args_is_help=True)
app.add_typer(chargers, name="chargers")
app.add_typer(users, name="users")
app.add_typer(batches, name="batches")
app.add_typer(manufacturing_keys, name="manufacturing-key")
app.add_typer(ca, name="ca")
app.callback()(version.root_options)  # cloudbay --version
console, err = Console(), Console(stderr=True)




def configure_logging(log_level: str) -> None:
    """CloudBay's and uvicorn's loggers in CLOUDBAY_LOG_FORMAT (text or json), secrets redacted."""
    guard.check_log_level(log_level)
    logs.configure(log_level, settings().log_format)


def projection_mode(option: str | None) -> str:
    """Where the read models are kept: the --projections option, else CLOUDBAY_PROJECTIONS, else a child process."""
    mode = option or os.environ.get("CLOUDBAY_PROJECTIONS") or "process"
    if mode not in ("process", "inline"):
        raise fail("--projections must be 'process' or 'inline'", 2)
    return mode


def start_projector(log_level: str) -> ProjectorProcess:
    """A supervised `cloudbay project` child process, started."""
    from adapters.projector import ProjectorProcess

    (projector := ProjectorProcess(log_level)).start()
    return projector


def run_server(chosen: Settings, host: str, port: int, log_level: str, child: ProjectorProcess | None) -> None:
    """Serve the ASGI app with uvicorn until it is stopped."""
    import uvicorn

    from adapters.http.app import create_app
    from adapters.server_options import uvicorn_options

    uvicorn.run(
        create_app(chosen, projector_alive=child.alive if child is not None else None),
        host=host,
        port=port,
        log_level=log_level,
        log_config=logs.logging_config(log_level, chosen.log_format),  # the same handler as configure_logging
        ws_ping_interval=30,
        timeout_graceful_shutdown=4,  # SIGTERM exits within 10 s even with the database away (docs/operations.md)
        ws_per_message_deflate=False,  # OCPP frames are small: compression costs more CPU than it saves
        **uvicorn_options(chosen),  # our WebSocket protocol, frames bounded by CLOUDBAY_OCPP_MAX_FRAME
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    projections: Annotated[
        str | None,
        typer.Option(
            help="process: read models kept by a `cloudbay project` child; inline: in this process"
            " [default: CLOUDBAY_PROJECTIONS, else process]"
        ),
    ] = None,
) -> None:
    """Run the platform: OCPP WebSocket endpoint, REST API, projections."""
    mode = projection_mode(projections)
    configure_logging(log_level)
    chosen = dataclasses.replace(settings(), projections=mode)
    projector = start_projector(log_level) if mode == "process" else None
    try:
        run_server(chosen, host, port, log_level, projector)
    finally:
        if projector is not None:
            projector.stop()


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
    if as_json:
        typer.echo(json.dumps({"head": head, "projections": summary}))
    else:
        console.print(f"rebuilt {', '.join(summary)} up to position {head}")


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


app.command()(openapi)
app.command()(signing_key)


if __name__ == "__main__":
    app()
