"""Paged lists over REST: one page of rows, its HAL ``self`` link and, when there is more, its ``next`` link.

Each list asks the read model for ``limit + 1`` rows: the extra row only says that another page exists. The
cursor of the next page is made from the last row shown, by the list itself (a station id, an id token, an
opaque cursor), so every list keeps the links its clients already follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

Row = dict[str, Any]


def request_href(request: Request) -> str:
    """The path and query string the caller asked for, as the page's ``self`` link."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def params_without_after(request: Request) -> dict[str, str]:
    """The caller's query parameters but the cursor, in their order: the next page's link is these plus ``after``."""
    return {k: v for k, v in request.query_params.items() if k != "after"}


def paged(
    rows: list[Row],
    limit: int,
    *,
    self_href: str,
    next_href: Callable[[Row], str],
    present: Callable[[Row], Row],
) -> dict[str, Any]:
    """The body of one page: at most ``limit`` rows, presented, and the page's links.

    ``rows`` are what the read model answered for ``limit + 1``; ``next_href`` makes the next page's link from
    the last row shown, and is called only when there is a next page.
    """
    links: dict[str, Any] = {"self": {"href": self_href}}
    if len(rows) > limit:
        rows = rows[:limit]
        links["next"] = {"href": next_href(rows[-1])}
    return {"items": [present(row) for row in rows], "_links": links}
