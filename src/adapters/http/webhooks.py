"""Webhook subscriptions over REST (operators only): register (the secret shown once), read, remove, and the
dead letters: read them, replay one. Deliveries themselves are made by ``adapters.webhooks.delivery``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.auth import Principal, Role
from adapters.http.common import API, authenticate, json_body, page_limit, runtime_of
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged
from adapters.http.problems import Problem
from adapters.http.schemas import Body, Links, Timestamp
from cloudbay_domain.webhook import DEFAULT_PORTS, EVENT_TYPES, MAX_URL_LENGTH, WebhookSubscription
from projections.webhook_outbox import stamp

if TYPE_CHECKING:
    from adapters.wiring import Runtime

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::")


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=4 * MAX_URL_LENGTH, examples=["https://example.com/hooks/cloudbay"])
    events: list[str] = Field(min_length=1, max_length=32, examples=[["transaction.ended", "charger.offline"]])


class Webhook(Body):
    id: str
    url: str
    events: list[str] = Field(examples=[list(EVENT_TYPES)])
    created_by: str
    created_at: Timestamp
    links: Links


class WebhookCreated(Webhook):
    secret: str = Field(description="signs every delivery (X-CloudBay-Signature); shown only in this answer")


class WebhookPage(Body):
    items: list[Webhook]
    links: Links


class Delivery(Body):
    delivery_id: str
    subscription_id: str
    event_type: str
    position: int
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: Timestamp
    last_attempt_at: Timestamp | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None
    payload: dict[str, Any] = Field(description="the body as sent (see docs/api.md, Webhooks)")
    links: Links


class DeliveryPage(Body):
    items: list[Delivery]
    links: Links


def hook_href(subscription_id: str) -> str:
    return f"{API}/webhooks/{subscription_id}"


def present_subscription(s: WebhookSubscription) -> dict[str, Any]:
    row = {"subscription_id": str(s.id), "url": s.url, "events": s.events, "created_by": s.created_by}
    return present_row({**row, "created_at": stamp(s.created_on)})


def present_row(row: dict[str, Any]) -> dict[str, Any]:
    links = {"self": {"href": hook_href(row["subscription_id"])}}
    links["dead_letters"] = {"href": hook_href(row["subscription_id"]) + "/dead-letters"}
    return {"id": row.pop("subscription_id"), **row, "_links": links}


def present_delivery(row: dict[str, Any]) -> dict[str, Any]:
    href = f"{hook_href(row['subscription_id'])}/dead-letters/{row['delivery_id']}"
    links = {"replay": {"href": href + "/replay"}, "webhook": {"href": hook_href(row["subscription_id"])}}
    return Delivery.shape({**row, "payload": json.loads(row["payload"]), "_links": links})


def own_addresses(request: Request, runtime: Runtime) -> list[tuple[str, int]]:
    """Every (host, port) this server is reached by: the Host the caller used, the socket's, its aliases."""
    server_host, server_port = request.scope.get("server") or (None, None)
    ports = {request.url.port or DEFAULT_PORTS.get(request.url.scheme, 80), server_port}
    hosts = {request.url.hostname, server_host, runtime.settings.node, *LOCAL_HOSTS}
    return [(host, port) for host in hosts if host for port in ports if port]


async def operator(request: Request) -> tuple[Runtime, Principal]:
    return runtime_of(request), await authenticate(request, Role.OPERATOR)


async def register_webhook(request: Request) -> Response:
    runtime, principal = await operator(request)
    body: WebhookRequest = await json_body(request, WebhookRequest)
    hooks, own = runtime.platform.webhooks, own_addresses(request, runtime)
    refusal = runtime.destinations.refusal
    subscription = await runtime.run(hooks.register, body.url, body.events, principal.subject, own, refusal)
    await runtime.run(runtime.wait_for_read_models)
    out = {**present_subscription(subscription), "secret": runtime.webhook_key.secret_for(subscription.id)}
    return JSONResponse(WebhookCreated.shape(out), status_code=201, headers={"Location": hook_href(out["id"])})


async def list_webhooks(request: Request) -> Response:
    runtime, _ = await operator(request)
    limit = page_limit(request)
    after = request.query_params.get("after")
    rows = await runtime.run(runtime.webhook_outbox.subscriptions, after, limit + 1)
    next_href = lambda last: f"{API}/webhooks?after={last['subscription_id']}&limit={limit}"  # noqa: E731
    body = paged(rows, limit, self_href=f"{API}/webhooks", next_href=next_href, present=present_row)
    return JSONResponse(WebhookPage.shape(body))


async def get_webhook(request: Request) -> Response:
    runtime, _ = await operator(request)
    subscription = await runtime.run(runtime.platform.webhooks.get, request.path_params["id"])
    return JSONResponse(Webhook.shape(present_subscription(subscription)))


async def remove_webhook(request: Request) -> Response:
    runtime, principal = await operator(request)
    await runtime.run(runtime.platform.webhooks.remove, request.path_params["id"], principal.subject)
    await runtime.run(runtime.wait_for_read_models)
    return Response(status_code=204)


async def list_dead_letters(request: Request) -> Response:
    runtime, _ = await operator(request)
    subscription_id = str((await runtime.run(runtime.platform.webhooks.get, request.path_params["id"])).id)
    limit, after = page_limit(request), request.query_params.get("after", "0")
    if not after.isdigit():
        raise Problem(400, "Bad Request", "after must be a position (an integer)")
    rows = await runtime.run(runtime.webhook_outbox.deliveries, subscription_id, "dead", int(after), limit + 1)
    self_href = f"{hook_href(subscription_id)}/dead-letters"
    body = paged(
        rows,
        limit,
        self_href=self_href,
        next_href=lambda last: f"{self_href}?after={last['position']}&limit={limit}",
        present=present_delivery,
    )
    return JSONResponse(DeliveryPage.shape(body))


async def replay_dead_letter(request: Request) -> Response:
    runtime, principal = await operator(request)
    subscription_id = str((await runtime.run(runtime.platform.webhooks.get, request.path_params["id"])).id)
    delivery = await dead_letter(runtime, subscription_id, request.path_params["delivery_id"])
    await runtime.run(runtime.platform.webhooks.replay, subscription_id, delivery, principal.subject)
    await runtime.run(runtime.wait_for_read_models)
    row = await runtime.run(runtime.webhook_outbox.delivery, subscription_id, delivery)
    assert row is not None
    return JSONResponse(present_delivery(row), status_code=202)


async def dead_letter(runtime: Runtime, subscription_id: str, delivery: str) -> str:
    row = await runtime.run(runtime.webhook_outbox.delivery, subscription_id, delivery)
    if row is None:
        raise Problem(404, "Not Found", f"webhook {subscription_id} has no delivery {delivery}")
    if row["status"] != "dead":
        raise Problem(409, "Conflict", f"delivery {delivery} is {row['status']}, not dead", reason=row["status"])
    return str(row["delivery_id"])


PAGING = (query("limit", "page size, 1-200", type="integer"), query("after", "the cursor of the next page"))
HOOK = API + "/webhooks/{id}"
routes: list[BaseRoute] = [
    api_route(
        "POST",
        API + "/webhooks",
        register_webhook,
        Doc(
            "registerWebhook",
            "Subscribe an endpoint to events",
            "webhooks",
            {201: WebhookCreated},
            problems=(403,),
            body=WebhookRequest,
            location=(201,),
        ),
    ),
    api_route(
        "GET",
        API + "/webhooks",
        list_webhooks,
        Doc(
            "listWebhooks",
            "List the webhook subscriptions",
            "webhooks",
            {200: WebhookPage},
            problems=(400, 403),
            params=PAGING,
        ),
    ),
    api_route(
        "GET",
        HOOK,
        get_webhook,
        Doc(
            "getWebhook", "One webhook subscription (never its secret)", "webhooks", {200: Webhook}, problems=(403, 404)
        ),
    ),
    api_route(
        "DELETE",
        HOOK,
        remove_webhook,
        Doc("removeWebhook", "Remove a webhook subscription", "webhooks", {204: None}, problems=(403, 404)),
    ),
    api_route(
        "GET",
        HOOK + "/dead-letters",
        list_dead_letters,
        Doc(
            "listDeadLetters",
            "The deliveries that failed every attempt",
            "webhooks",
            {200: DeliveryPage},
            problems=(400, 403, 404),
            params=PAGING,
        ),
    ),
    api_route(
        "POST",
        HOOK + "/dead-letters/{delivery_id}/replay",
        replay_dead_letter,
        Doc(
            "replayDeadLetter",
            "Send a dead delivery again, from its first attempt",
            "webhooks",
            {202: Delivery},
            problems=(403, 404, 409),
        ),
    ),
]
