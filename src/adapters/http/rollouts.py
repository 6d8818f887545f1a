"""Firmware rollout campaigns over REST (operators only): create, read the progress, and the commands."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import check_operator
from adapters.http.common import API, authenticate, json_body, page_limit, runtime_of
from adapters.http.openapi import Doc, api_route, query
from adapters.http.paging import paged, params_without_after, request_href
from adapters.http.problems import Problem
from adapters.http.rollout_schemas import Rollout, RolloutCommand, RolloutPage, RolloutRequest, RolloutSummary
from cloudbay_domain.firmware_update import Stage
from cloudbay_domain.rollout import RolloutCampaign
from cloudbay_domain.rollout_policy import Image, InvalidPolicy, RolloutPolicy, Window
from services.rollouts import UnknownCampaign

ROLLOUTS = API + "/rollouts"
NO_REASON = RolloutCommand.model_validate({})  # a command sent without a body
COMMANDS = {"approve": "approve", "start": "start", "pause": "pause", "resume": "resume", "promote": "promote",
            "abort": "abort", "rollback": "roll_back"}  # fmt: skip


def policy_of(body: RolloutRequest) -> RolloutPolicy:
    p = body.policy
    options: dict[str, Any] = p.model_dump(exclude={"groups", "group_count", "windows"})
    try:
        options["windows"] = tuple(Window.parse(w.start, w.end) for w in p.windows)
        if p.group_count is not None:
            return RolloutPolicy.evenly(p.group_count, **options)
        return RolloutPolicy(groups=tuple(p.groups or (1.0, 10.0, 50.0, 100.0)), **options)
    except InvalidPolicy as e:
        raise Problem(422, "Unprocessable Content", str(e)) from None


def campaign_id_of(request: Request) -> UUID:
    try:
        return UUID(request.path_params["campaign_id"])
    except ValueError:
        raise UnknownCampaign(f"no rollout campaign {request.path_params['campaign_id']}") from None


def present(campaign: RolloutCampaign, progress: dict[str, Any] | None) -> dict[str, Any]:
    """The campaign's decisions and groups as it is now, its counts as the read model has them (zero before)."""
    counted = {g["group"]: g for g in (progress or {}).get("groups", [])}
    empty = {"stages": {s.value: 0 for s in Stage}, "failures": {}}
    groups = [{**empty, **counted.get(g, {}), "group": g, "size": n} for g, n in enumerate(campaign.group_sizes)]
    counts = progress or {"settled": 0, "throughput": None, "eta_seconds": None}
    return Rollout.shape({
        "campaign_id": str(campaign.id), "family": campaign.family, "channel": campaign.channel,
        "state": campaign.state.value, "image": campaign.image.as_dict(), "policy": campaign.policy.as_dict(),
        "open_groups": campaign.open_groups, "reason": campaign.halt_reason, "created_by": campaign.created_by,
        "targets": campaign.targets, "excluded": campaign.excluded, "version": campaign.version, "groups": groups,
        "skipped": getattr(campaign, "skipped", {}), "reverts": getattr(campaign, "reverts", []),
        **{k: counts[k] for k in ("settled", "throughput", "eta_seconds")},
        "_links": {"self": {"href": f"{ROLLOUTS}/{campaign.id}"}},
    })  # fmt: skip


async def answer(request: Request, campaign: RolloutCampaign, status: int = 200) -> Response:
    runtime = runtime_of(request)
    out = present(campaign, await runtime.run(runtime.rollout_queries.progress, campaign.id))
    headers = {"Location": out["_links"]["self"]["href"]} if status == 201 else None
    return JSONResponse(out, status_code=status, headers=headers)


async def create_rollout(request: Request) -> Response:
    principal, runtime = await authenticate(request), runtime_of(request)
    check_operator(principal, "create a rollout campaign")
    body: RolloutRequest = await json_body(request, RolloutRequest)
    rollouts = runtime.platform.rollouts
    if (body.image is None) == (body.image_id is None):
        raise Problem(422, "Unprocessable Content", "name the image: either image (a URL) or image_id (an upload)")
    if body.image is not None:
        image = Image(body.image.version, body.image.location, body.image.minimum_version)
    else:
        image = await runtime.run(rollouts.image_of, body.image_id, body.family)
    filter = body.filter.model_dump(exclude_none=True) if body.filter else {}
    create = rollouts.create
    campaign = await runtime.run(create, body.family, body.channel, image, policy_of(body), principal.subject, filter)
    return await answer(request, campaign, 201)


async def get_rollout(request: Request) -> Response:
    check_operator(await authenticate(request), "read rollout campaigns")
    runtime = runtime_of(request)
    campaign = await runtime.run(runtime.platform.rollouts.get, campaign_id_of(request))
    return await answer(request, campaign)


async def list_rollouts(request: Request) -> Response:
    check_operator(await authenticate(request), "read rollout campaigns")
    runtime, limit, q = runtime_of(request), page_limit(request), request.query_params
    rows = await runtime.run(runtime.rollout_queries.page, q.get("state"), q.get("family"), q.get("after"), limit + 1)
    params = params_without_after(request)

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        keep = ("campaign_id", "family", "channel", "state", "image", "open_groups", "reason", "created_by",
                "created_at", "targets", "excluded", "settled", "throughput", "eta_seconds")  # fmt: skip
        return RolloutSummary.shape({**{k: row[k] for k in keep},
                                     "_links": {"self": {"href": f"{ROLLOUTS}/{row['campaign_id']}"}}})  # fmt: skip

    next_href = lambda row: f"{ROLLOUTS}?{urlencode({**params, 'after': row['cursor']})}"  # noqa: E731
    return JSONResponse(paged(rows, limit, self_href=request_href(request), next_href=next_href, present=shown))


def command_endpoint(name: str) -> Any:
    async def command(request: Request) -> Response:
        principal = await authenticate(request)
        check_operator(principal, f"{name} a rollout campaign")
        runtime, campaign_id = runtime_of(request), campaign_id_of(request)
        body: RolloutCommand = await json_body(request, RolloutCommand) if await request.body() else NO_REASON
        decide = runtime.platform.rollouts.decide
        campaign = await runtime.run(decide, campaign_id, COMMANDS[name], principal.subject, body.reason)
        kicked = [campaign_id] if name in ("start", "resume", "promote") else []
        if name == "rollback":  # the chargers that updated get their previous image back, if it is known
            kicked = await runtime.run(runtime.platform.reinstall.revert, campaign_id, principal.subject)
            campaign = await runtime.run(runtime.platform.rollouts.get, campaign_id)
        for started in kicked:
            runtime.platform.rollout_dispatcher.kick(started)  # UpdateFirmware to the chargers due now
        return await answer(request, campaign)

    command.__name__ = f"{name}_rollout"
    return command


def command_route(name: str) -> BaseRoute:
    doc = Doc(f"{name}Rollout", f"{name.capitalize()} a rollout campaign (operators)", "rollouts", {200: Rollout},
              (403, 404, 409, 422), body=RolloutCommand)  # fmt: skip
    return api_route("POST", f"{ROLLOUTS}/{{campaign_id}}/{name}", command_endpoint(name), doc)


routes: list[BaseRoute] = [
    api_route("POST", ROLLOUTS, create_rollout, Doc(
        "createRollout", "Create and plan a firmware rollout campaign (operators)", "rollouts", {201: Rollout},
        (403, 422), body=RolloutRequest, location=(201,))),
    api_route("GET", ROLLOUTS, list_rollouts, Doc(
        "listRollouts", "The rollout campaigns, newest first (operators)", "rollouts", {200: RolloutPage}, (400, 403),
        params=(query("state", "only campaigns in this state"), query("family", "only this family's")))),
    api_route("GET", ROLLOUTS + "/{campaign_id}", get_rollout, Doc(
        "getRollout", "A rollout campaign and its progress per group", "rollouts", {200: Rollout}, (403, 404))),
    *(command_route(name) for name in COMMANDS),
]  # fmt: skip
