"""The PKI over REST: the CA chain and the CRL (public: chargers fetch them), a charger's certificates, revoking."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, on_charger
from adapters.http.common import API, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.pipeline import close_session
from adapters.http.schemas import Body, Links, Timestamp
from cloudbay_domain.certificates import IssuedCertificate

CHAIN_MEDIA, CRL_MEDIA = "application/pem-certificate-chain", "application/pkix-crl"
CHARGER = API + "/chargers/{station_id}"


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "stolen"}]})
    reason: str = Field(default="", max_length=200, description="why (kept with the revocation)")


class Certificate(Body):
    serial: str = Field(description="the serial number, hex", examples=["5fadb62a4254d37d30667ab69f5736a36d88c443"])
    subject: str = Field(examples=["CN=CB-0001,O=CloudBay"])
    not_after: Timestamp
    fingerprint: str = Field(description="SHA-256 of the DER certificate, hex")
    revoked: bool


class CertificateList(Body):
    items: list[Certificate]
    links: Links


def _present(certificate: IssuedCertificate, revoked: bool) -> dict[str, Any]:
    fields = ("serial", "subject", "not_after", "fingerprint")
    return {**{f: getattr(certificate, f) for f in fields}, "revoked": revoked}


def _page(station_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    base = f"{API}/chargers/{segment(station_id)}"
    links = {"self": {"href": f"{base}/certificates"}, "charger": {"href": base}}
    return CertificateList.shape({"items": items, "_links": links})


async def chain(request: Request) -> Response:
    runtime = runtime_of(request)
    pem = await runtime.run(runtime.authority.chain_pem)
    return Response(pem, media_type=CHAIN_MEDIA)


async def crl(request: Request) -> Response:
    runtime = runtime_of(request)
    der = await runtime.run(runtime.platform.certificates.crl_der)
    return Response(der, media_type=CRL_MEDIA, headers={"cache-control": "max-age=300"})


async def list_certificates(request: Request) -> Response:
    await on_charger(request, Act.OPERATE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    held = await runtime.run(runtime.platform.certificates.certificates_of, station_id)
    return JSONResponse(_page(station_id, [_present(c, revoked) for c, revoked in held]))


async def revoke(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.OPERATE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: RevokeRequest = await json_body(request, RevokeRequest)
    revoked = await runtime.run(runtime.platform.certificates.revoke, station_id, principal.subject, body.reason)
    await close_session(runtime, station_id, "certificate revoked")
    return JSONResponse(_page(station_id, [_present(c, True) for c in revoked]))


routes: list[BaseRoute] = [
    api_route(
        "GET",
        API + "/ca/chain.pem",
        chain,
        Doc(
            "getCaChain",
            "The issuing CA and root (PEM), for chargers' trust stores",
            "pki",
            {200: None},
            (503,),
            secured=False,
            media=CHAIN_MEDIA,
        ),
    ),
    api_route(
        "GET",
        API + "/ca/crl.der",
        crl,
        Doc(
            "getCrl",
            "The revocation list signed by the issuing CA (DER)",
            "pki",
            {200: None},
            (503,),
            secured=False,
            media=CRL_MEDIA,
        ),
    ),
    api_route(
        "GET",
        CHARGER + "/certificates",
        list_certificates,
        Doc(
            "listChargerCertificates",
            "The certificates issued to a charger (operators)",
            "pki",
            {200: CertificateList},
            (403, 404),
        ),
    ),
    api_route(
        "POST",
        CHARGER + "/certificate/revoke",
        revoke,
        Doc(
            "revokeChargerCertificate",
            "Revoke the charger's valid certificates and close its session (operators)",
            "pki",
            {200: CertificateList},
            (403, 404, 409),
            body=RevokeRequest,
        ),
    ),
]
