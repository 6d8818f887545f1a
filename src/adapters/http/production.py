"""Production batches over REST: import (JSON or CSV), list, one batch, its device list and label sheet."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from adapters.access import MANUFACTURING
from adapters.batch_files import MAX_BATCH_BYTES, read_csv
from adapters.http import production_schemas as ps
from adapters.http.common import API, PAGE_PARAMS, authenticate, page_limit, parse_json, runtime_of, segment
from adapters.http.openapi import JSON, Doc, api_route, query
from adapters.http.paging import paged, request_href
from adapters.http.problems import Problem
from adapters.labels import SheetDevice, label_sheet
from cloudbay_domain.batch import BatchSpec, ProductionBatch
from cloudbay_domain.codes import DeviceCodes
from cloudbay_domain.device import DeviceState
from projections.production import mac_ranges

if TYPE_CHECKING:
    from adapters.wiring import Runtime

BATCHES = f"{API}/production-batches"
CSV_MEDIA = "text/csv"
NO_STORE = {"Cache-Control": "no-store"}  # documents with codes are not kept by caches


async def limited_body(request: Request, limit: int = MAX_BATCH_BYTES) -> bytes:
    """The body, refused (413) as soon as it is longer than ``limit``: a huge upload is never read whole."""
    declared = request.headers.get("content-length", "")
    too_big = Problem(413, "Content Too Large", f"a batch is at most {limit // (1024 * 1024)} MiB; nothing was read")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", JSON).split(";")[0].strip().lower()


async def batch_spec(request: Request) -> BatchSpec:
    """The batch the body describes, JSON or CSV (batch fields then in the query)."""
    media = media_type(request)
    if media not in (JSON, CSV_MEDIA):
        raise Problem(415, "Unsupported Media Type", f"send the batch as {JSON} or {CSV_MEDIA}")
    raw = await limited_body(request)
    if media == CSV_MEDIA:
        q = request.query_params
        return read_csv(raw, q.get("batch_id"), q.get("hardware_family", ""), q.get("model", ""))
    body: ps.BatchImportRequest = parse_json(raw, ps.BatchImportRequest)
    rows = [row.model_dump() for row in body.devices]
    return BatchSpec.of(body.batch_id, body.hardware_family, body.model, rows)


def batch_links(batch_id: str) -> dict[str, Any]:
    base = f"{BATCHES}/{segment(batch_id)}"
    return {
        "self": {"href": base},
        "devices_csv": {"href": f"{base}/devices.csv"},
        "labels_pdf": {"href": f"{base}/labels.pdf"},
        "chargers": {"href": f"{API}/chargers?state=manufactured"},
        "batches": {"href": BATCHES},
    }


def present_batch(row: dict[str, Any]) -> dict[str, Any]:
    return ps.Batch.shape({**row, "_links": batch_links(row["batch_id"])})


def unseen_batch(batch: ProductionBatch) -> dict[str, Any]:
    """A just-imported batch, from the aggregate (when the read model lags)."""
    states = {**dict.fromkeys((s.value for s in DeviceState), 0), "manufactured": len(batch.devices)}
    fields = ("batch_id", "hardware_family", "model", "key_id", "imported_by")
    return {
        **{name: getattr(batch, name) for name in fields},
        "devices": len(batch.devices),
        "mac_ranges": mac_ranges(batch.mac_ranges),
        "imported_at": batch.created_on.isoformat(),
        "states": states,
        "version": batch.version,
    }


async def batch_answer(runtime: Runtime, batch: ProductionBatch) -> dict[str, Any]:
    await runtime.run(runtime.wait_for_read_models)
    row = await runtime.run(runtime.production.get_batch, batch.batch_id)
    return present_batch(row if row is not None else unseen_batch(batch))


async def import_batch(request: Request) -> Response:
    principal = await authenticate(request, *MANUFACTURING)
    runtime = runtime_of(request)
    spec = await batch_spec(request)
    imported = await runtime.run(runtime.batches.import_batch, spec, principal.subject)
    body = await batch_answer(runtime, imported.batch)
    location = {"Location": body["_links"]["self"]["href"]}
    return JSONResponse(body, status_code=201 if imported.created else 200, headers=location)


async def list_batches(request: Request) -> Response:
    await authenticate(request, *MANUFACTURING)
    runtime, limit = runtime_of(request), page_limit(request)
    rows = await runtime.run(runtime.production.list_batches, after=request.query_params.get("after"), limit=limit + 1)
    body = paged(
        rows,
        limit,
        self_href=request_href(request),
        next_href=lambda last: f"{BATCHES}?limit={limit}&after={segment(last['batch_id'])}",
        present=present_batch,
    )
    return JSONResponse(ps.BatchPage.shape(body))


async def get_batch(request: Request) -> Response:
    await authenticate(request, *MANUFACTURING)
    runtime, batch_id = runtime_of(request), request.path_params["batch_id"]
    row = await runtime.run(runtime.production.get_batch, batch_id)
    if row is None:
        raise Problem(404, "Not Found", f"no batch {batch_id}")
    return JSONResponse(present_batch(row))


def devices_csv(batch: ProductionBatch, codes: list[DeviceCodes]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["serial_number", "station_id", "mac_address", "charger_code"])
    for (serial, _, _), mac, code in zip(batch.devices, batch.mac_addresses(), codes, strict=True):
        writer.writerow([serial, code.station_id, mac, code.charger_payload])
    return out.getvalue()


def sheet(batch: ProductionBatch, codes: list[DeviceCodes]) -> bytes:
    models = [model for _, model, _ in batch.devices]
    return label_sheet(
        batch.batch_id, [SheetDevice(*d) for d in zip(codes, models, batch.mac_addresses(), strict=True)]
    )


def attachment(name: str) -> dict[str, str]:
    return {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}


async def get_devices_csv(request: Request) -> Response:
    principal = await authenticate(request, *MANUFACTURING)
    runtime, batch_id = runtime_of(request), request.path_params["batch_id"]
    batch, codes = await runtime.run(runtime.pipeline.batch_codes, batch_id, "devices.csv", principal.subject)
    return Response(devices_csv(batch, codes), media_type=CSV_MEDIA, headers=attachment(f"{batch_id}-devices.csv"))


async def get_labels_pdf(request: Request) -> Response:
    principal = await authenticate(request, *MANUFACTURING)
    runtime, batch_id = runtime_of(request), request.path_params["batch_id"]
    batch, codes = await runtime.run(runtime.pipeline.batch_codes, batch_id, "labels.pdf", principal.subject)
    pdf = await runtime.run(sheet, batch, codes)
    return Response(pdf, media_type="application/pdf", headers=attachment(f"{batch_id}-labels.pdf"))


CSV_BODY = {
    "required": True,
    "content": {
        JSON: {"schema": {"$ref": "#/components/schemas/BatchImportRequest"}},
        CSV_MEDIA: {
            "schema": {"type": "string"},
            "example": "serial_number,model\nCB22-000001,\nCB22-000002,CB-Home-22-T\n",
        },
    },
}
CSV_PARAMS = (
    query("hardware_family", "with a text/csv body: the batch's hardware family"),
    query("model", "with a text/csv body: the batch's model"),
    query("batch_id", "with a text/csv body: the line's name for the batch (else a digest of its content)"),
)
IMPORT_DOC = Doc(
    "importProductionBatch",
    "Import a production batch: each device a whitelisted charger in state manufactured",
    "manufacturing",
    {200: ps.Batch, 201: ps.Batch},
    (403, 409, 413, 415, 503),
    body=ps.BatchImportRequest,
    params=CSV_PARAMS,
    location=(200, 201),
    description="201 when imported; 200 when the same batch was imported before (nothing written). Bad rows are "
    "listed in the problem's `rows`; serial numbers that are chargers already are a 409, as are too few MAC "
    "addresses (`addresses_left`) and a batch id imported with other content.",
    extra={"requestBody": CSV_BODY},
)
DOCUMENT = {200: None}
routes: list[BaseRoute] = [
    api_route("POST", BATCHES, import_batch, IMPORT_DOC),
    api_route(
        "GET",
        BATCHES,
        list_batches,
        Doc(
            "listProductionBatches",
            "List the production batches with their devices per state",
            "manufacturing",
            {200: ps.BatchPage},
            (400, 403),
            params=(query("after", "the last batch id of the previous page (follow `next`)"), *PAGE_PARAMS),
        ),
    ),
    api_route(
        "GET",
        BATCHES + "/{batch_id}",
        get_batch,
        Doc("getProductionBatch", "One batch with its devices per state", "manufacturing", {200: ps.Batch}, (403, 404)),
    ),
    api_route(
        "GET",
        BATCHES + "/{batch_id}/devices.csv",
        get_devices_csv,
        Doc(
            "getProductionBatchDevices",
            "The batch for the flashing station: serial, station id, MAC, charger code (never the box code)",
            "manufacturing",
            DOCUMENT,
            (403, 404, 503),
            media=CSV_MEDIA,
        ),
    ),
    api_route(
        "GET",
        BATCHES + "/{batch_id}/labels.pdf",
        get_labels_pdf,
        Doc(
            "getProductionBatchLabels",
            "The batch's A4 label sheet: per device its charger label and its box label",
            "manufacturing",
            DOCUMENT,
            (403, 404, 503),
            media="application/pdf",
        ),
    ),
]
