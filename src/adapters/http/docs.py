"""The API describing itself: ``/openapi.json``, interactive docs at ``/docs`` (Swagger UI from the
``swagger-ui-bundle`` package, served by this server: the page loads nothing from elsewhere), the ``/api/v1``
index and ``/``; and the ``Doc`` of the routes ``adapters.http.app`` defines itself (probes, OAuth)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from adapters.http import schemas
from adapters.http.common import API
from adapters.http.openapi import Doc, api_route, document

ASSETS = "/docs/assets"
# The collections the index links to: a new collection adds one entry.
API_INDEX: dict[str, str] = {
    "chargers": f"{API}/chargers",
    "transactions": f"{API}/transactions",
    "rfid-cards": f"{API}/rfid-cards",
    "energy": f"{API}/users/me/energy",
    "live": f"{API}/live",
    "webhooks": f"{API}/webhooks",
    "users": f"{API}/users",
    "production-batches": f"{API}/production-batches",
    "mac-blocks": f"{API}/mac-blocks",
    "me": f"{API}/users/me",
    "security-events": f"{API}/security-events",
    "pairings": f"{API}/pairings",
    "openapi": "/openapi.json",
    "docs": "/docs",
}

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CloudBay API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true}});
  </script>
</body>
</html>
"""


def api_version() -> str:
    try:
        return version("cloudbay")
    except PackageNotFoundError:
        return "0.0.0"


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    return document(routes, api_version())


async def openapi_json(request: Request) -> Response:
    """The document of this app's routes, made once per app."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = openapi_document(request.app.routes)
    return JSONResponse(state.openapi)


async def docs_page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def api_index(request: Request) -> Response:
    links = {"self": {"href": API}, **{name: {"href": href} for name, href in API_INDEX.items()}}
    return JSONResponse(schemas.Index.shape({"_links": links}))


async def root(request: Request) -> Response:
    links = {"api": {"href": API}, "docs": {"href": "/docs"}, "openapi": {"href": "/openapi.json"}}
    return JSONResponse(schemas.Index.shape({"_links": links}))


def unsecured(operation_id: str, summary: str, tag: str, answers: dict[int, type[schemas.Body] | None]) -> Doc:
    return Doc(operation_id, summary, tag, answers, secured=False)


HEALTHZ = unsecured(
    "getHealth", "Liveness: the process serves (no store asked)", "health", {200: schemas.Health, 503: schemas.Health}
)
READYZ = unsecured(
    "getReadiness",
    "Readiness: the stores answer within 2 s, no projection stopped (with each lag)",
    "health",
    {200: schemas.Health, 503: schemas.Health},
)
JWKS = unsecured("getJwks", "The embedded issuer's signing keys (JWKS)", "oauth", {200: schemas.Loose})
OPENID = unsecured(
    "getOpenidConfiguration", "OpenID / OAuth2 authorization server metadata", "oauth", {200: schemas.Loose}
)
TOKEN = Doc(
    "issueToken",
    "OAuth2 client-credentials grant: an access token",
    "oauth",
    {200: schemas.TokenAnswer, 400: schemas.OAuthErrorBody, 401: schemas.OAuthErrorBody, 429: schemas.OAuthErrorBody},
    body=schemas.TokenForm,
    request_media="application/x-www-form-urlencoded",
    secured=False,
    extra={"security": [{}, {"basicClient": []}]},
    description="Failed client authentications are limited per client id and per remote address (10 at once,"
    " refilled over a minute): beyond them the answer is 429 `slow_down` with `Retry-After` (seconds), whatever"
    " the secret.",
)

routes: list[BaseRoute] = [
    api_route("GET", "/", root, unsecured("getRoot", "Links to the API and its docs", "meta", {200: schemas.Index})),
    api_route(
        "GET", API, api_index, unsecured("getApiIndex", "The collections of the API", "meta", {200: schemas.Index})
    ),
    api_route(
        "GET", "/openapi.json", openapi_json, unsecured("getOpenapi", "This document", "meta", {200: schemas.Loose})
    ),
    api_route(
        "GET",
        "/docs",
        docs_page,
        Doc("getDocs", "Interactive API docs", "meta", {200: None}, secured=False, media="text/html"),
    ),
    Mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets"),
]
