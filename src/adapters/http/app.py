"""The ASGI application: routes in one list, the runtime built in the lifespan, errors as problem+json."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ExceptionHandler, StatelessLifespan

from adapters.auth import Role
from adapters.http import (
    cards,
    certificates,
    chargers,
    docs,
    firmware,
    firmware_channels,
    firmware_images,
    firmware_publications,
    history,
    pipeline,
    production,
    remote,
    schemas,
)
from adapters.http import guests as guests_api
from adapters.http import ownership as ownership_api
from adapters.http import rollouts as rollouts_api
from adapters.http import schedules as schedules_api
from adapters.http import scheduling as scheduling_api
from adapters.http import security as security_api
from adapters.http import sites as sites_api
from adapters.http import users as users_api
from adapters.http import webhooks as webhooks_api
from adapters.http.errors import SCHEDULING, SITES, problem_for
from adapters.http.health import healthz, readyz
from adapters.http.metrics_middleware import MetricsMiddleware
from adapters.http.metrics_middleware import routes as metrics_routes
from adapters.http.ocpp_path import OCPP_ROUTE, CloudBayApp
from adapters.http.openapi import api_route
from adapters.http.ownership_errors import REFUSALS as OWNERSHIP_REFUSALS
from adapters.http.problems import Problem
from adapters.http.production_errors import REFUSALS
from adapters.http.request_id import RequestIdMiddleware, with_request_id
from adapters.http.text_guard import TextGuardMiddleware
from adapters.http.token_guard import TokenGuard
from adapters.oauth import OAuthError, claimed_client_id, client_credentials_grant
from adapters.rollout_rounds import rollout_rounds, schedule_round, site_round
from adapters.settings import Settings
from adapters.wiring import Runtime
from cloudbay_domain.firmware import InvalidFirmware
from services.errors import ServiceError
from services.load_management import RENEW_SECONDS
from services.users import UnknownUser

log = logging.getLogger("cloudbay")


async def jwks(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(runtime.signing_key.jwks())


async def openid_configuration(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "issuer": runtime.auth_settings.issuer,
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
    )


NO_STORE = {"Cache-Control": "no-store"}  # token answers must not be cached (RFC 6749 5.1)


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded"


def _client_lookup(runtime: Runtime) -> Callable[[str], tuple[str, list[Role], int] | None]:
    """A registered user's secret hash and roles by client id (their e-mail), for the client credentials grant."""

    def lookup(client_id: str) -> tuple[str, list[Role], int] | None:
        try:
            user = runtime.platform.users.get(client_id)  # a removed user is not found: no grant
        except UnknownUser:
            return None
        return user.secret_hash, [Role(user.role.value)], user.generation

    return lookup


def _guard_keys(request: Request, form: dict[str, str]) -> list[str]:
    """The back-off buckets of a token request: its client id (if it names one) and its remote address."""
    client_id = claimed_client_id(form, request.headers.get("authorization"))
    address = request.client.host if request.client else "unknown"
    return [f"address:{address}", *([f"client:{client_id}"] if client_id else [])]


def _authorization(request: Request) -> str | None:
    return request.headers.get("authorization")


def _slow_down(retry_after: int) -> Response:
    body = {"error": "slow_down", "error_description": f"too many failed attempts; retry in {retry_after} s"}
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(retry_after), **NO_STORE})


async def token(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if not _is_form(request):
        body = {"error": "invalid_request", "error_description": "use application/x-www-form-urlencoded"}
        return JSONResponse(body, status_code=400, headers=NO_STORE)
    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
    guard, keys = request.app.state.token_guard, _guard_keys(request, form)
    if (retry_after := guard.retry_after(keys)) is not None:
        return _slow_down(retry_after)
    try:
        body = await client_credentials_grant(form, _authorization(request), _client_lookup(runtime), runtime.issuer)
    except OAuthError as e:
        if e.status == 401:  # a failed client authentication: one step closer to the back-off
            guard.failed(keys)
        return JSONResponse(e.body(), status_code=e.status, headers={**e.headers, **NO_STORE})
    return JSONResponse(schemas.TokenAnswer.shape(body), headers={**NO_STORE, "Pragma": "no-cache"})


async def problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response(request.url.path)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    problem = Problem(
        exc.status_code, titles.get(exc.status_code, "HTTP error"), exc.detail, headers=dict(exc.headers or {})
    )
    return problem.response(request.url.path)


async def service_error_handler(request: Request, exc: Exception) -> Response:
    problem = problem_for(exc)
    if problem is None:
        log.warning("unmapped service error on %s: %s", request.url.path, exc)
        problem = Problem(409, "Conflict", str(exc))
    return problem.response(request.url.path)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    problem = problem_for(exc)  # a domain refusal (an invalid station id, e-mail or card) is the caller's error
    if problem is not None:
        return problem.response(request.url.path)
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return Problem(500, "Internal Server Error", "the request failed; nothing was changed").response(request.url.path)


def app_routes() -> list[BaseRoute]:
    """Every route of the service: probes, the token endpoint and its discovery, OCPP, the REST API."""
    return [
        api_route("GET", "/healthz", healthz, docs.HEALTHZ),
        api_route("GET", "/readyz", readyz, docs.READYZ),
        api_route("POST", "/oauth/token", token, docs.TOKEN),
        api_route("GET", "/.well-known/jwks.json", jwks, docs.JWKS),
        api_route("GET", "/.well-known/openid-configuration", openid_configuration, docs.OPENID),
        OCPP_ROUTE,
        *chargers.routes,
        *remote.routes,
        *cards.routes,
        *history.routes,
        *docs.routes,
        *metrics_routes,
        *users_api.routes,
        *webhooks_api.routes,
        *production.routes,
        *pipeline.routes,
        *security_api.routes,
        *certificates.routes,
        *guests_api.routes,
        *firmware.routes,
        *ownership_api.routes,
        *scheduling_api.routes,
        *schedules_api.routes,
        *sites_api.routes,
        *rollouts_api.routes,
        *firmware_channels.routes,
        *firmware_images.routes,
        *firmware_publications.routes,
    ]


def exception_handlers() -> dict[Any, ExceptionHandler]:
    """Every error answered as problem+json; a class's handler also catches its subclasses."""
    return {
        Problem: problem_handler,
        HTTPException: http_exception_handler,
        ServiceError: service_error_handler,
        **dict.fromkeys((*REFUSALS, *OWNERSHIP_REFUSALS, InvalidFirmware, *SCHEDULING, *SITES), service_error_handler),
        Exception: with_request_id(server_error_handler),  # answered outside the middleware: add the header here
    }


def lifespan_for(
    settings: Settings | None,
    runtime: Runtime | None,
    projector_alive: Callable[[], bool] | None = None,
    started: Callable[[], None] | None = None,
) -> StatelessLifespan[Starlette]:
    """The app's lifespan: with ``runtime`` given, the caller owns it; else one is built and closed here.
    ``started`` is called once the runtime is built, before the first request."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = runtime is None
        if runtime is None:
            chosen = settings or Settings.from_env()
            app.state.runtime = Runtime(chosen, projections_here=chosen.projections == "inline")
            app.state.runtime.presence.start()  # this node serves chargers: its lease and the sweeper
            app.state.runtime.projector_alive = projector_alive
        else:
            app.state.runtime = runtime
        app.state.runtime.platform.load.attach()  # site changes committed in store threads re-balance on this loop
        if started is not None:
            started()
        try:
            if own:  # this node runs the campaigns', the schedules' and the sites' rounds (adapters/rollout_rounds.py)
                runtime_here = app.state.runtime
                async with (
                    rollout_rounds(runtime_here),
                    rollout_rounds(runtime_here, step=schedule_round),
                    rollout_rounds(runtime_here, RENEW_SECONDS, step=site_round),
                ):
                    yield
            else:
                yield
        finally:
            if own:
                app.state.runtime.close()

    return lifespan


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    projector_alive: Callable[[], bool] | None = None,
    started: Callable[[], None] | None = None,
) -> Starlette:
    """Build the ASGI app. With ``runtime`` given, the caller owns it; else the lifespan builds one.
    ``projector_alive``: whether the `cloudbay project` child runs (``serve``), shown on /readyz; ``started``:
    called once the runtime is built (``serve`` tunes the garbage collector then)."""
    app = CloudBayApp(
        routes=app_routes(),
        lifespan=lifespan_for(settings, runtime, projector_alive, started),
        exception_handlers=exception_handlers(),
        middleware=[Middleware(RequestIdMiddleware), Middleware(MetricsMiddleware), Middleware(TextGuardMiddleware)],
    )
    app.state.token_guard = TokenGuard()  # back-off of failed token requests (adapters.http.token_guard)
    return app
