"""``cloudbay openapi``: the OpenAPI document, printed offline (no server, no store)."""

from __future__ import annotations

import json

import typer


def openapi() -> None:
    """Print the OpenAPI 3.1 document of the REST API (offline: no server, no store)."""
    from adapters.http.app import app_routes  # the web app is imported only by this command
    from adapters.http.docs import openapi_document

    typer.echo(json.dumps(openapi_document(app_routes()), indent=2))
