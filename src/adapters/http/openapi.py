"""The OpenAPI 3.1 document, made from the routes themselves: each REST route is an ``ApiRoute`` that carries
its ``Doc`` (operation id, summary, tag, request model, parameters, response model per status, the problems it
may answer). ``document(routes)`` walks the routes and writes the document; the JSON schemas are the pydantic
models' own, so the document describes exactly what validates requests and shapes answers.

    api_route("GET", API + "/webhooks", list_webhooks,
              Doc("listWebhooks", "List the webhook subscriptions", "webhooks", {200: WebhookPage}, problems=(403,)))

Implied problems: 401 on a secured operation; 400 and 422 with a request body; 400 and 412 with ``if_match``;
400 with any path or query parameter (a control character in one is refused: ``adapters.http.text_guard``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from adapters.http.schemas import Problem

JSON, PROBLEM_JSON = "application/json", "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    423: "Locked",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
SUCCESS_TEXT = {200: "OK", 201: "Created", 202: "Accepted (sent to the charger and answered)", 204: "No Content"}
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "basicClient": {"type": "http", "scheme": "basic", "description": "the token endpoint's client authentication"},
    "oauth2": {
        "type": "oauth2",
        "description": "client credentials: client id = the user's e-mail, the secret `cloudbay users add` printed",
        "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
    },
}
HEADERS = {
    "ETag": {"description": "the aggregate version, a strong entity tag: send it back in If-Match", "example": '"7"'},
    "Location": {"description": "the resource created or concerned"},
}


@dataclass(frozen=True)
class Param:
    """A query or header parameter (path parameters are read from the route's path)."""

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    where: str = "query"
    required: bool = False


def query(name: str, description: str, **schema: Any) -> Param:
    return Param(name, schema or {"type": "string"}, description)


IF_MATCH = Param(
    "If-Match",
    {"type": "string", "examples": ['"3"', "*"]},
    'change only if the resource is at one of these versions (its ETag, e.g. "3"), or "*": any; else 412',
    where="header",
)


@dataclass(frozen=True)
class Doc:
    """How one operation is documented. ``responses``: the success statuses and their body models (None: no
    body); ``problems``: the error statuses it may answer, besides those implied (see the module docstring)."""

    operation_id: str
    summary: str
    tag: str
    responses: Mapping[int, type[BaseModel] | None]
    problems: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    secured: bool = True
    if_match: bool = False
    etag: bool = False  # the success answers carry an ETag
    location: tuple[int, ...] = ()  # the success statuses that carry a Location
    media: str = JSON  # of the success bodies
    description: str = ""
    request_media: str = JSON
    extra: Mapping[str, Any] = field(default_factory=dict)  # merged into the operation as is

    def problem_statuses(self) -> list[int]:
        implied = {401} if self.secured else set()
        if self.body is not None and self.request_media == JSON:
            implied |= {400, 422}
        if self.if_match:
            implied |= {400, 412}
        return sorted(implied | set(self.problems))


class ApiRoute(Route):
    """A Starlette route for one method that carries its OpenAPI ``Doc``."""

    def __init__(self, method: str, path: str, endpoint: Callable[..., Any], doc: Doc) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method, self.doc = method.lower(), doc


def api_route(method: str, path: str, endpoint: Callable[..., Any], doc: Doc) -> ApiRoute:
    return ApiRoute(method, path, endpoint, doc)


def documented(routes: Iterable[BaseRoute]) -> list[ApiRoute]:
    return [route for route in routes if isinstance(route, ApiRoute)]


Mode = Literal["validation", "serialization"]


def _models(routes: list[ApiRoute]) -> tuple[dict[Any, Any], dict[str, Any]]:
    wanted: set[tuple[type[BaseModel], Mode]] = {(Problem, "serialization")}
    for route in routes:
        if route.doc.body is not None:
            wanted.add((route.doc.body, "validation"))
        wanted |= {(model, "serialization") for model in route.doc.responses.values() if model is not None}
    keys = sorted(wanted, key=lambda key: (key[0].__name__, key[1]))
    refs, defs = models_json_schema(keys, by_alias=True, ref_template="#/components/schemas/{model}")
    return dict(refs), defs.get("$defs", {})


def _parameters(route: ApiRoute) -> list[dict[str, Any]]:
    path = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.param_convertors
    ]
    params = [*route.doc.params, *((IF_MATCH,) if route.doc.if_match else ())]
    return path + [
        {"name": p.name, "in": p.where, "required": p.required, "description": p.description, "schema": dict(p.schema)}
        for p in params
    ]


def _problem(status: int, ref: Any) -> dict[str, Any]:
    example = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    return {"description": TITLES.get(status, "Error"), "content": {PROBLEM_JSON: {"schema": ref, "example": example}}}


def _success(doc: Doc, status: int, ref: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": SUCCESS_TEXT.get(status) or TITLES.get(status, "Answer")}
    if ref is not None:
        answer["content"] = {JSON if status >= 300 else doc.media: {"schema": ref}}
    elif doc.media != JSON and status < 300:
        answer["content"] = {doc.media: {"schema": {"type": "string"}}}
    names = [*(["ETag"] if doc.etag else []), *(["Location"] if status in doc.location else [])]
    headers = {name: HEADERS[name] for name in names}
    if headers:
        answer["headers"] = {name: {**h, "schema": {"type": "string"}} for name, h in headers.items()}
    return answer


def operation(route: ApiRoute, refs: Mapping[Any, Any]) -> dict[str, Any]:
    doc = route.doc
    responses: dict[str, Any] = {
        str(status): _success(doc, status, refs[(model, "serialization")] if model else None)
        for status, model in doc.responses.items()
    }
    problem_ref = refs[(Problem, "serialization")]
    problems = set(doc.problem_statuses()) | ({400} if route.param_convertors or doc.params else set())
    responses |= {str(status): _problem(status, problem_ref) for status in sorted(problems)}
    op: dict[str, Any] = {"operationId": doc.operation_id, "summary": doc.summary, "tags": [doc.tag]}
    if doc.description:
        op["description"] = doc.description
    op["parameters"] = _parameters(route)
    if doc.body is not None:
        schema = refs[(doc.body, "validation")]
        op["requestBody"] = {"required": True, "content": {doc.request_media: {"schema": schema}}}
    op["responses"] = responses
    op["security"] = [{"bearerAuth": []}, {"oauth2": []}] if doc.secured else []
    return {**op, **doc.extra}


def openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)


def document(routes: Iterable[BaseRoute], version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the ``ApiRoute``s among ``routes``."""
    api = documented(routes)
    refs, schemas = _models(api)
    paths: dict[str, dict[str, Any]] = {}
    for route in api:
        paths.setdefault(openapi_path(route.path), {})[route.method] = operation(route, refs)
    tags = sorted({route.doc.tag for route in api})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CloudBay",
            "version": version,
            "description": "The REST API of CloudBay, an OCPP 2.0.1 charging station management system. "
            "snake_case JSON; errors are RFC 9457 problem+json; mutable resources answer an ETag "
            "(the aggregate version) and accept If-Match.",
        },
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }
