"""Request and answer bodies of pairing and sharing: pairings, invitations, members, transfer, unpairing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.http.schemas import Body, Links, Timestamp

CHARGER_QR = "cloudbay://pair?station=CB-0001&code=7K3M-9QXD-2F8H-V4NC"
BOX_QR = "cloudbay://box?station=CB-0001&code=Q2W8-K4MZ-7T3R-X9BD-P6HC"
Role = Literal["owner", "co-owner", "guest"]
InvitedRole = Literal["co-owner", "guest"]


class PairingRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"charger_code": CHARGER_QR, "box_code": BOX_QR}]}
    )
    charger_code: str = Field(min_length=1, max_length=512, description="what the charger label's QR code holds")
    box_code: str = Field(min_length=1, max_length=512, description="what the QR code inside the box holds")


class InvitationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "sam@example.com", "role": "guest", "expires_at": "2026-12-24T18:00:00Z"}]
        },
    )
    email: str = Field(min_length=3, max_length=254)
    role: InvitedRole
    expires_at: datetime | None = Field(default=None, description="with a time zone; default 7 days, at most 30")


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"email": "new.owner@example.com"}]})
    email: str = Field(min_length=3, max_length=254, description="who is offered the charger; they must accept")
    expires_at: datetime | None = Field(default=None, description="with a time zone; default 7 days, at most 30")


class RoleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "co-owner"}]})
    role: InvitedRole


class UnpairRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "sold with the house"}]})
    reason: str = Field(default="", max_length=200)


class MemberBody(Body):
    member: str = Field(examples=["ann@example.com"], description="the user's subject (their e-mail)")
    role: Role
    since: Timestamp
    links: Links


class MemberPage(Body):
    station_id: str
    items: list[MemberBody]
    links: Links


class Pairing(Body):
    """The caller's membership of a charger (after pairing: its owner)."""

    station_id: str = Field(examples=["CB-0001"])
    role: Role
    links: Links


class InvitationBody(Body):
    invitation_id: str = Field(description="the sha256 of the token (the token itself is only in the mail)")
    station_id: str
    email: str
    role: Role = Field(description="owner: a transfer of the charger")
    expires_at: Timestamp
    invited_by: str
    state: Literal["open", "used", "revoked"]
    links: Links


class InvitationPage(Body):
    items: list[InvitationBody]
    links: Links
