"""Sites and circuits for load management over REST (docs/scheduling.md "Load management").

Who may (``adapters.access``): an operator any site; a user (an owner) the sites they created, and every
circuit under them (another's is answered 404, as if it did not exist); a manufacturer none. Assigning a
charger is changing its settings (``Act.SETTINGS``: its owners, co-owners and operators), on a site the caller
may change.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, is_operator, on_charger
from adapters.auth import Principal, Role
from adapters.http.common import API, authenticate, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.problems import Problem
from adapters.http.scheduling import stamp
from adapters.http.site_schemas import AssignRequest, SiteChange, SiteList, SiteRequest, SiteTree
from cloudbay_domain.sites import Node, Placement, SiteLayout
from services.load_management import LimitProfile
from services.sites import NoSite

SITES = API + "/sites"
SITE = SITES + "/{site_id}"
CHARGER = SITE + "/chargers/{station_id}"
WHO = (Role.OPERATOR, Role.USER)


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def present(layout: SiteLayout, node: Node, sent: dict[str, LimitProfile]) -> dict[str, Any]:
    chargers = []
    for station_id, p in layout.chargers_on(node.node_id).items():
        held = sent.get(station_id)
        chargers.append(
            {
                "station_id": station_id,
                "priority": p.priority,
                "max_current_a": str(p.max_current_a),
                "min_current_a": str(p.min_current_a),
                "phases": p.phases,
                "limit_a": str(float(held.amps)) if held else None,
                "limit_until": stamp(held.until) if held else None,
                "safe_a": str(float(held.safe_amps)) if held else None,
                "_links": {"charger": {"href": f"{API}/chargers/{segment(station_id)}"}},
            }
        )
    links = {"self": {"href": f"{SITES}/{segment(node.node_id)}"}}
    if node.parent is not None:
        links["parent"] = {"href": f"{SITES}/{segment(node.parent)}"}
    return {
        "site_id": node.node_id,
        "name": node.name,
        "parent": node.parent,
        "site": layout.root_of(node.node_id),
        "max_current_a": _text(node.max_current_a),
        "max_power_w": _text(node.max_power_w),
        "created_by": node.created_by,
        "chargers": chargers,
        "circuits": [present(layout, child, sent) for child in layout.children(node.node_id)],
        "_links": links,
    }


async def _mine(request: Request, principal: Principal, node_id: str) -> None:
    """The site or circuit exists and is the caller's to see and change (an operator: any)."""
    runtime = runtime_of(request)
    owner = await runtime.run(runtime.platform.sites.owner_of, node_id)
    if not is_operator(principal) and owner != principal.subject:
        raise NoSite(f"no site or circuit {node_id}")


async def _parent_mine(request: Request, principal: Principal, parent: str | None) -> None:
    if parent is None:
        return
    try:
        await _mine(request, principal, parent)
    except NoSite:
        raise Problem(422, "Unprocessable Content", f"parent {parent} is no site or circuit") from None


async def _answer(request: Request, node_id: str, status: int = 200) -> Response:
    runtime = runtime_of(request)
    layout = await runtime.run(runtime.platform.sites.layout)
    body = SiteTree.shape(present(layout, layout.node(node_id), runtime.platform.load.sent))
    headers = {"Location": body["_links"]["self"]["href"]} if status == 201 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def post_site(request: Request) -> Response:
    principal = await authenticate(request, *WHO)
    body: SiteRequest = await json_body(request, SiteRequest)
    await _parent_mine(request, principal, body.parent)
    runtime = runtime_of(request)
    args = (body.name, body.parent, body.max_current_a, body.max_power_w, principal.subject)
    node = await runtime.run(runtime.platform.sites.create, *args)
    return await _answer(request, node.node_id, 201)


async def list_sites(request: Request) -> Response:
    principal = await authenticate(request, *WHO)
    runtime = runtime_of(request)
    layout = await runtime.run(runtime.platform.sites.layout)
    mine = [n for n in layout.sites() if is_operator(principal) or n.created_by == principal.subject]
    sent = runtime.platform.load.sent
    return JSONResponse(SiteList.shape({"sites": [present(layout, n, sent) for n in mine]}))


async def get_site(request: Request) -> Response:
    principal = await authenticate(request, *WHO)
    await _mine(request, principal, request.path_params["site_id"])
    return await _answer(request, request.path_params["site_id"])


async def patch_site(request: Request) -> Response:
    principal = await authenticate(request, *WHO)
    node_id = request.path_params["site_id"]
    await _mine(request, principal, node_id)
    body: SiteChange = await json_body(request, SiteChange)
    changes = body.model_dump(exclude_unset=True)
    await _parent_mine(request, principal, changes.get("parent"))
    runtime = runtime_of(request)
    await runtime.run(runtime.platform.sites.change, node_id, changes)
    return await _answer(request, node_id)


async def delete_site(request: Request) -> Response:
    principal = await authenticate(request, *WHO)
    node_id = request.path_params["site_id"]
    await _mine(request, principal, node_id)
    runtime = runtime_of(request)
    await runtime.run(runtime.platform.sites.remove, node_id)
    return Response(status_code=204)


async def put_charger(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.SETTINGS)
    node_id, station_id = request.path_params["site_id"], request.path_params["station_id"]
    await _mine(request, principal, node_id)
    body: AssignRequest = await json_body(request, AssignRequest)
    placement = Placement(node_id, body.priority, body.max_current_a, body.min_current_a, body.phases)
    runtime = runtime_of(request)
    await runtime.run(runtime.platform.sites.assign, station_id, placement)
    return await _answer(request, node_id)


async def delete_charger(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.SETTINGS)
    node_id, station_id = request.path_params["site_id"], request.path_params["station_id"]
    await _mine(request, principal, node_id)
    runtime = runtime_of(request)
    await runtime.run(runtime.platform.sites.unassign, station_id, node_id)
    return Response(status_code=204)


def _doc(op: str, summary: str, responses: dict[int, Any], problems: tuple[int, ...], **extra: Any) -> Doc:
    return Doc(op, summary, "sites", responses, problems, **extra)


routes: list[BaseRoute] = [
    api_route(
        "POST",
        SITES,
        post_site,
        _doc(
            "createSite",
            "Create a site, or a circuit under one (parent)",
            {201: SiteTree},
            (403,),
            body=SiteRequest,
            location=(201,),
        ),
    ),
    api_route(
        "GET", SITES, list_sites, _doc("listSites", "The caller's sites, each as its tree", {200: SiteList}, (403,))
    ),
    api_route(
        "GET",
        SITE,
        get_site,
        _doc("getSite", "A site or circuit: its tree, chargers and their limits", {200: SiteTree}, (403, 404)),
    ),
    api_route(
        "PATCH",
        SITE,
        patch_site,
        _doc("changeSite", "Rename, re-limit or move a site or circuit", {200: SiteTree}, (403, 404), body=SiteChange),
    ),
    api_route(
        "DELETE",
        SITE,
        delete_site,
        _doc("deleteSite", "Remove a site or circuit without circuits under it", {204: None}, (403, 404, 409)),
    ),
    api_route(
        "PUT",
        CHARGER,
        put_charger,
        _doc(
            "assignCharger",
            "Put a charger on this circuit (moving it from any other)",
            {200: SiteTree},
            (403, 404),
            body=AssignRequest,
        ),
    ),
    api_route(
        "DELETE",
        CHARGER,
        delete_charger,
        _doc("unassignCharger", "Take a charger off this site", {204: None}, (403, 404)),
    ),
]
