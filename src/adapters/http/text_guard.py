"""The REST edge's text rule (``cloudbay_domain.text``): no control characters in a path, a query parameter or
a JSON body, and no body nested deeper than :data:`MAX_BODY_DEPTH`.

A path or query parameter with a control character is answered 400 before any endpoint runs, so no NUL ever
reaches a read-model query (PostgreSQL refuses NUL in text); a body string with one is a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http.problems import Problem
from cloudbay_domain.text import has_control_characters

MAX_BODY_DEPTH = 32  # the deepest request model is 3 levels; json.loads itself fails near 1,000


def bad_url_text(scope: Scope) -> str | None:
    """What in the request's path or query string holds a control character, or None."""
    if has_control_characters(unquote(scope.get("path", ""), errors="replace")):
        return "the path"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        if has_control_characters(name) or has_control_characters(value):
            return f"query parameter {name!r}" if not has_control_characters(name) else "a query parameter name"
    return None


class TextGuardMiddleware:
    """Answers 400 problem+json to an HTTP request whose path or query holds a control character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The app's own awaitable when the URL is clean (no frame of ours held while a WebSocket lives)."""
        where = bad_url_text(scope) if scope["type"] == "http" else None
        if where is None:
            return self.app(scope, receive, send)
        problem = Problem(400, "Bad Request", f"{where} must not contain control characters")
        return problem.response()(scope, receive, send)


def check_body_text(raw: Any) -> None:
    """Walk a parsed JSON body without recursion: 400 when nested too deeply, 422 on a control character."""
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise Problem(400, "Bad Request", f"the body is nested deeper than {MAX_BODY_DEPTH} levels")
        if isinstance(value, str) and has_control_characters(value):
            errors = [{"field": where or "(body)", "message": "must not contain control characters"}]
            raise Problem(422, "Unprocessable Content", "the body does not match the schema", errors=errors)
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, where or "(body)", depth + 1))
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}.{i}" if where else str(i), depth + 1) for i, item in enumerate(value))
