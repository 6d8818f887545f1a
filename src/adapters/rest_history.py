"""Placeholder: routes are added by the charging work."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
