"""RFC 9457 problem details: the one shape every REST error takes."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from adapters.http import schemas

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An HTTP error the caller should see as ``application/problem+json``.

    Raise it anywhere below an endpoint; the app's exception handler renders it.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return schemas.Problem.shape(body)  # the one documented shape (``components.schemas.Problem``)

    def response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(self.body(instance), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON)
