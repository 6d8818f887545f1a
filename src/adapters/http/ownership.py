"""Pairing and sharing over REST: pair a charger by its two QR codes, invite co-owners and guests by e-mail,
accept, list, change and remove members, transfer, unpair. Rules are the ``Ownership`` aggregate's; a caller
who is no member of a charger is answered as if it did not exist (404)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import is_operator
from adapters.auth import Principal, Role
from adapters.http import ownership_schemas as os_
from adapters.http.common import API, authenticate, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.mail import Mail, MailError
from cloudbay_domain.membership import Invitation, MemberRole, NotAMember
from cloudbay_domain.ownership import Ownership
from services.ownership import token_hash

if TYPE_CHECKING:
    from adapters.wiring import Runtime

CHARGER = API + "/chargers/{station_id}"
APP_USERS = (Role.USER,)
MEMBERS_READERS = (Role.USER, Role.OPERATOR)


def members_href(station_id: str) -> str:
    return f"{API}/chargers/{segment(station_id)}/members"


def present_invitation(station_id: str, i: Invitation) -> dict[str, Any]:
    base = f"{API}/chargers/{segment(station_id)}/invitations"
    fields = {"email": i.email, "role": i.role.value, "expires_at": i.expires_at.isoformat(), "state": i.state}
    body = {"invitation_id": i.token_hash, "station_id": station_id, "invited_by": i.invited_by, **fields}
    return os_.InvitationBody.shape({**body, "_links": {"self": {"href": f"{base}/{i.token_hash}"}}})


def invitation_mail(station_id: str, invitation: Invitation, token: str) -> Mail:
    what = "to take over" if invitation.role is MemberRole.OWNER else f"as a {invitation.role.value} of"
    text = (
        f"{invitation.invited_by} invites you {what} the charger {station_id} on CloudBay.\n\n"
        f"Open this link in the CloudBay app, signed in as {invitation.email}:\n"
        f"cloudbay://invitation?token={token}\n\n"
        f"(or POST {API}/invitations/{token}/accept)\n"
        f"The invitation can be used once, until {invitation.expires_at.isoformat()}.\n"
    )
    return Mail(invitation.email, f"Invitation to charger {station_id}", text)


async def caller(request: Request, *roles: Role) -> tuple[Principal, Runtime, str]:
    principal = await authenticate(request, *roles)
    return principal, runtime_of(request), request.path_params.get("station_id", "")


async def pair(request: Request) -> Response:
    principal, runtime, _ = await caller(request, *APP_USERS)
    body: os_.PairingRequest = await json_body(request, os_.PairingRequest)
    ownership = await runtime.run(runtime.ownerships.pair, principal.subject, body.charger_code, body.box_code)
    await runtime.run(runtime.wait_for_read_models)
    href = members_href(ownership.station_id)
    out = {"station_id": ownership.station_id, "role": "owner", "_links": {"members": {"href": href}}}
    return JSONResponse(os_.Pairing.shape(out), status_code=201, headers={"Location": href})


async def send_invitation(runtime: Runtime, by: str, ownership: Ownership, token: str) -> Response:
    """Mail the token and answer 201; when it cannot be sent, the invitation is revoked (nobody could use it)
    and 502 answered."""
    invitation = ownership.invitations[token_hash(token)]
    try:
        await runtime.run(runtime.mail.send, invitation_mail(ownership.station_id, invitation, token))
    except MailError:
        await runtime.run(runtime.ownerships.revoke_invitation, ownership.station_id, by, invitation.token_hash, True)
        raise
    out = present_invitation(ownership.station_id, invitation)
    return JSONResponse(out, status_code=201, headers={"Location": out["_links"]["self"]["href"]})


async def invite(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *APP_USERS)
    body: os_.InvitationRequest = await json_body(request, os_.InvitationRequest)
    invite = runtime.ownerships.invite
    ownership, token = await runtime.run(
        invite, station_id, principal.subject, body.email, MemberRole(body.role), body.expires_at
    )
    return await send_invitation(runtime, principal.subject, ownership, token)


async def transfer(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *APP_USERS)
    body: os_.TransferRequest = await json_body(request, os_.TransferRequest)
    offer = runtime.ownerships.transfer
    ownership, token = await runtime.run(offer, station_id, principal.subject, body.email, body.expires_at)
    return await send_invitation(runtime, principal.subject, ownership, token)


async def list_invitations(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    ownership = await runtime.run(runtime.ownerships.visible, station_id, principal.subject, is_operator(principal))
    items = [present_invitation(station_id, i) for i in ownership.invitations.values() if i.state == "open"]
    links = {"self": {"href": f"{API}/chargers/{segment(station_id)}/invitations"}}
    return JSONResponse(os_.InvitationPage.shape({"items": items, "_links": links}))


async def revoke_invitation(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    hashed, revoke = request.path_params["invitation_id"], runtime.ownerships.revoke_invitation
    await runtime.run(revoke, station_id, principal.subject, hashed, is_operator(principal))
    return Response(status_code=204)


async def accept(request: Request) -> Response:
    principal, runtime, _ = await caller(request, *APP_USERS)
    ownership, role = await runtime.run(runtime.ownerships.accept, request.path_params["token"], principal.subject)
    await runtime.run(runtime.wait_for_read_models)
    links = {"members": {"href": members_href(ownership.station_id)}}
    return JSONResponse(os_.Pairing.shape({"station_id": ownership.station_id, "role": role.value, "_links": links}))


def present_member(station_id: str, row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "_links": {"self": {"href": f"{members_href(station_id)}/{segment(row['member'])}"}}}


async def list_members(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    await runtime.run(runtime.ownerships.visible, station_id, principal.subject, is_operator(principal))
    rows = await runtime.run(runtime.members.members_of, station_id)
    items = [present_member(station_id, row) for row in rows]
    body = {"station_id": station_id, "items": items, "_links": {"self": {"href": members_href(station_id)}}}
    return JSONResponse(os_.MemberPage.shape(body))


def member_of(principal: Principal, request: Request) -> str:
    member = request.path_params["member"]
    return principal.subject if member == "me" else member.strip().lower()


async def get_member(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    ownership = await runtime.run(runtime.ownerships.visible, station_id, principal.subject, is_operator(principal))
    member = ownership.members.get(who := member_of(principal, request))
    if member is None:
        raise NotAMember(f"{who} is not a member of charger {station_id}")
    row = {"member": who, "role": member.role.value, "since": member.since.isoformat()}
    return JSONResponse(os_.MemberBody.shape(present_member(station_id, row)))


async def change_member(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    body: os_.RoleRequest = await json_body(request, os_.RoleRequest)
    member, change = member_of(principal, request), runtime.ownerships.change_role
    ownership = await runtime.run(
        change, station_id, principal.subject, member, MemberRole(body.role), is_operator(principal)
    )
    await runtime.run(runtime.wait_for_read_models)
    row = {"member": member, "role": body.role, "since": ownership.members[member].since.isoformat()}
    return JSONResponse(os_.MemberBody.shape(present_member(station_id, row)))


async def remove_member(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    member, remove = member_of(principal, request), runtime.ownerships.remove
    await runtime.run(remove, station_id, principal.subject, member, is_operator(principal))
    await runtime.run(runtime.wait_for_read_models)
    return Response(status_code=204)


async def unpair(request: Request) -> Response:
    principal, runtime, station_id = await caller(request, *MEMBERS_READERS)
    body = await json_body(request, os_.UnpairRequest) if await request.body() else os_.UnpairRequest()
    unpair = runtime.ownerships.unpair
    await runtime.run(unpair, station_id, principal.subject, is_operator(principal), body.reason)
    await runtime.run(runtime.wait_for_read_models)
    return Response(status_code=204)


def doc(operation: str, summary: str, answers: dict[int, Any], problems: tuple[int, ...], **more: Any) -> Doc:
    return Doc(operation, summary, "pairing", answers, problems, **more)


INVITING = (403, 404, 409, 502)
routes: list[BaseRoute] = [
    api_route(
        "POST",
        API + "/pairings",
        pair,
        doc(
            "pairCharger",
            "Pair a released charger by its two QR codes",
            {201: os_.Pairing},
            (403, 409, 429),
            body=os_.PairingRequest,
            location=(201,),
        ),
    ),
    api_route(
        "POST",
        CHARGER + "/invitations",
        invite,
        doc(
            "inviteMember",
            "Invite a co-owner or a guest by e-mail",
            {201: os_.InvitationBody},
            INVITING,
            body=os_.InvitationRequest,
            location=(201,),
        ),
    ),
    api_route(
        "GET",
        CHARGER + "/invitations",
        list_invitations,
        doc("listInvitations", "The open invitations", {200: os_.InvitationPage}, (403, 404)),
    ),
    api_route(
        "DELETE",
        CHARGER + "/invitations/{invitation_id}",
        revoke_invitation,
        doc("revokeInvitation", "Revoke an open invitation", {204: None}, (403, 404, 409)),
    ),
    api_route(
        "POST",
        API + "/invitations/{token}/accept",
        accept,
        doc(
            "acceptInvitation",
            "Accept an invitation (signed in with the address it was sent to)",
            {200: os_.Pairing},
            (403, 404, 409, 410),
        ),
    ),
    api_route(
        "GET",
        CHARGER + "/members",
        list_members,
        doc("listMembers", "The charger's owner, co-owners and guests", {200: os_.MemberPage}, (403, 404)),
    ),
    api_route(
        "GET",
        CHARGER + "/members/{member}",
        get_member,
        doc("getMember", "One member (`me`: the caller)", {200: os_.MemberBody}, (403, 404)),
    ),
    api_route(
        "PATCH",
        CHARGER + "/members/{member}",
        change_member,
        doc(
            "changeMember",
            "Make a member a co-owner or a guest",
            {200: os_.MemberBody},
            (403, 404, 409),
            body=os_.RoleRequest,
        ),
    ),
    api_route(
        "DELETE",
        CHARGER + "/members/{member}",
        remove_member,
        doc("removeMember", "Remove a member, or leave (`me`)", {204: None}, (403, 404, 409)),
    ),
    api_route(
        "POST",
        CHARGER + "/transfer",
        transfer,
        doc(
            "transferCharger",
            "Offer the charger to another user (they become its owner when they accept)",
            {201: os_.InvitationBody},
            INVITING,
            body=os_.TransferRequest,
            location=(201,),
        ),
    ),
    api_route(
        "POST",
        CHARGER + "/unpair",
        unpair,
        doc(
            "unpairCharger",
            "Unpair the charger (factory reset): every member and open invitation goes",
            {204: None},
            (403, 404, 409),
            body=os_.UnpairRequest,
        ),
    ),
]
