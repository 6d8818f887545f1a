"""Guest mode over REST: a guest's short-lived client certificate for one charger (see docs/security.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import Act, on_charger
from adapters.http.common import API, json_body, runtime_of, segment
from adapters.http.openapi import Doc, api_route
from adapters.http.schemas import Body, Links, Timestamp
from adapters.pki.x509 import MAX_CSR_CHARS, charger_uri

GUEST_CERTIFICATES = API + "/chargers/{station_id}/guest-certificates"


class GuestCertificateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"csr": "MIHhMIGIAgEAMCYx..."}]})
    csr: str = Field(
        min_length=1,
        max_length=MAX_CSR_CHARS,
        description="the certificate signing request the app made (EC P-256/P-384 or RSA >= 2048), as base64 DER:"
        " the PEM's lines without its BEGIN/END lines and line breaks (a JSON string holds no control characters)."
        " Only its key is used",
    )


PEM_BEGIN, PEM_END = "-----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----"


def pem_of(csr: str) -> str:
    """The request as PEM, from its base64 DER (BEGIN/END lines and spaces, if sent, are dropped)."""
    body = csr.replace(PEM_BEGIN, "").replace(PEM_END, "").replace(" ", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join((PEM_BEGIN, *lines, PEM_END, ""))


class GuestCertificate(Body):
    station_id: str
    id_token: str = Field(description="the guest's id token on this charger, the certificate's CN")
    charger_uri: str = Field(description="the SAN URI naming the charger", examples=["urn:cloudbay:charger:CB-0001"])
    serial: str
    subject: str
    not_after: Timestamp
    fingerprint: str = Field(description="SHA-256 of the DER certificate, hex")
    certificate_chain: str = Field(description="PEM: the guest's certificate, then the issuing CA")
    links: Links


async def issue_guest_certificate(request: Request) -> Response:
    principal, _ = await on_charger(request, Act.GUEST_CERTIFICATE)
    runtime, station_id = runtime_of(request), request.path_params["station_id"]
    body: GuestCertificateRequest = await json_body(request, GuestCertificateRequest)
    signed, token = await runtime.run(runtime.platform.guests.issue, station_id, principal.subject, pem_of(body.csr))
    await runtime.run(runtime.wait_for_read_models)
    runtime.platform.sync.push_local_list([station_id])  # the charger learns to trust the guest's token
    charger = f"{API}/chargers/{segment(station_id)}"
    certificate = {f: getattr(signed.certificate, f) for f in ("serial", "subject", "not_after", "fingerprint")}
    out = {"station_id": station_id, "id_token": token, "charger_uri": charger_uri(station_id), **certificate}
    links = {"charger": {"href": charger}, "crl": {"href": f"{API}/ca/crl.der"}}
    answer = GuestCertificate.shape({**out, "certificate_chain": signed.chain_pem, "_links": links})
    return JSONResponse(answer, status_code=201)


routes: list[BaseRoute] = [
    api_route(
        "POST",
        GUEST_CERTIFICATES,
        issue_guest_certificate,
        Doc(
            "issueGuestCertificate",
            "A guest's short-lived client certificate for this charger, from the app's CSR (guests only)",
            "pki",
            {201: GuestCertificate},
            (403, 404, 422, 503),
            body=GuestCertificateRequest,
        ),
    ),
]
