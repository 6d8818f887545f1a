"""``cloudbay serve``: the OCPP endpoint, the REST API and (by default) a projector child, on a plain port and,
with a server certificate, a TLS port beside it (docs/operations.md, "TLS")."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adapters import logs, open_files
from adapters.cli import guard
from adapters.cli.common import fail, settings
from adapters.settings import Settings, tls_settings

if TYPE_CHECKING:
    from adapters.projector import ProjectorProcess

STARTUP_FAILURE = 3  # as uvicorn exits when the app could not start


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
    """Serve the ASGI app with uvicorn (plain port, and the TLS port when configured) until it is stopped."""
    from adapters import gc_tuning
    from adapters.http.app import create_app
    from adapters.serving import build_servers

    gc_tuning.tune()  # a long-running node's collector (adapters/gc_tuning.py)
    alive = child.alive if child is not None else None
    servers = build_servers(
        create_app(chosen, projector_alive=alive, started=gc_tuning.started),
        chosen,
        host=host,
        port=port,
        log_level=log_level,
        log_config=logs.logging_config(log_level, chosen.log_format),  # the same handler as configure_logging
        ws_ping_interval=30,
        timeout_graceful_shutdown=4,  # SIGTERM exits within 10 s even with the database away (docs/operations.md)
        ws_per_message_deflate=False,  # OCPP frames are small: compression costs more CPU than it saves
    )
    try:
        servers.run()
    except KeyboardInterrupt:
        pass
    if not servers.started:
        sys.exit(STARTUP_FAILURE)


def with_tls(chosen: Settings, cert: Path | None, key: Path | None, port: int | None, ca: Path | None) -> Settings:
    """The settings with serve's TLS options over CLOUDBAY_TLS_* (checked by the same rules)."""
    env = {
        "CLOUDBAY_TLS_CERT": str(cert or chosen.tls_cert or ""),
        "CLOUDBAY_TLS_KEY": str(key or chosen.tls_key or ""),
        "CLOUDBAY_TLS_PORT": str(port or chosen.tls_port),
        "CLOUDBAY_TLS_CLIENT_CA": str(ca or chosen.tls_client_ca or ""),
        "CLOUDBAY_TRUSTED_PROXIES": ",".join(chosen.trusted_proxies),
    }
    return dataclasses.replace(chosen, **tls_settings(env, serving=True))


PathOption = Annotated[Path | None, typer.Option(dir_okay=False)]


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
    tls_cert: Annotated[Path | None, typer.Option(help="server certificate (chain), PEM [CLOUDBAY_TLS_CERT]")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="its private key, PEM [CLOUDBAY_TLS_KEY]")] = None,
    tls_port: Annotated[int | None, typer.Option(help="the wss:// and HTTPS port [CLOUDBAY_TLS_PORT, 8443]")] = None,
    tls_client_ca: Annotated[
        Path | None, typer.Option(help="CA that client certificates must chain to (profile 3) [CLOUDBAY_TLS_CLIENT_CA]")
    ] = None,
) -> None:
    """Run the platform: OCPP WebSocket endpoint, REST API, projections."""
    mode = projection_mode(projections)
    configure_logging(log_level)
    chosen = with_tls(dataclasses.replace(settings(), projections=mode), tls_cert, tls_key, tls_port, tls_client_ca)
    files = chosen.firmware_files
    if files.base_url is None:  # firmware download links name this server's own port unless told otherwise
        chosen = dataclasses.replace(chosen, firmware=dataclasses.replace(files, base_url=f"http://localhost:{port}"))
    open_files.raise_limit(chosen.expected_chargers)  # one socket per charger (docs/operations.md, "Open files")
    projector = start_projector(log_level) if mode == "process" else None
    try:
        run_server(chosen, host, port, log_level, projector)
    finally:
        if projector is not None:
            projector.stop()
