"""The OpenAPI document covers every route, is served as built offline, and /docs loads only from this server."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.routing import Mount, Route, WebSocketRoute
from typer.testing import CliRunner

from adapters.cli.main import app as cli
from adapters.http.app import app_routes
from adapters.http.docs import API_INDEX, openapi_document
from adapters.http.openapi import openapi_path
from tests.support import LiveServer

UNDOCUMENTED = {"/ocpp/{station_id}", "/api/v1/live"}  # WebSockets; /docs assets are a Mount


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def test_every_route_is_in_the_document() -> None:
    routes = app_routes()
    spec = openapi_document(routes)
    documented = operations(spec)
    missing = [
        (method, route.path)
        for route in routes
        if isinstance(route, Route) and route.path not in UNDOCUMENTED
        for method in sorted(route.methods or ())
        if method != "HEAD"
        if (method, openapi_path(route.path)) not in documented
    ]
    assert missing == []
    assert {r.path for r in routes if isinstance(r, WebSocketRoute)} <= UNDOCUMENTED
    assert all(isinstance(r, Route | WebSocketRoute | Mount) for r in routes)


def test_every_operation_is_complete() -> None:
    spec = openapi_document(app_routes())
    assert spec["openapi"] == "3.1.0"
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    text = json.dumps(spec)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in spec["components"]["schemas"], ref
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op["summary"] and op["tags"] and op["responses"], (method, path)
            for status, answer in op["responses"].items():
                if int(status) >= 400 and "application/problem+json" in answer.get("content", {}):
                    assert answer["content"]["application/problem+json"]["schema"] == {
                        "$ref": "#/components/schemas/Problem"
                    }
            if op["security"]:
                assert "401" in op["responses"], (method, path)
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert {"type", "title", "status", "detail", "instance", "reason", "errors"} <= set(problem)
    charger = spec["paths"]["/api/v1/chargers"]["post"]
    assert charger["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WhitelistRequest")
    assert {"201", "400", "401", "403", "409", "422"} <= set(charger["responses"])


def test_the_cli_prints_the_document_offline(tmp_path: Any) -> None:
    result = CliRunner().invoke(cli, ["openapi"], env={"CLOUDBAY_DATA_DIR": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == openapi_document(app_routes())
    assert not (tmp_path / "none").exists()  # no store was opened


class Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_served_document_docs_page_and_index(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        spec = http.get("/openapi.json")
        assert spec.status_code == 200 and spec.json()["openapi"] == "3.1.0"
        assert operations(spec.json()) == operations(openapi_document(app_routes()))

        page = http.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        parser = Sources()
        parser.feed(page.text)
        assert len(parser.urls) >= 3
        for url in parser.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, url  # same origin: nothing from a CDN
            assert http.get(url).status_code == 200, url
        assert "https://" not in page.text and "http://" not in page.text

        index = http.get("/api/v1")
        assert index.status_code == 200
        links = index.json()["_links"]
        assert {name: link["href"] for name, link in links.items() if name != "self"} == API_INDEX
        assert {"chargers", "transactions", "rfid-cards", "energy", "live", "openapi", "docs"} <= set(links)
        root = http.get("/").json()["_links"]
        assert root["api"]["href"] == "/api/v1" and root["docs"]["href"] == "/docs"
