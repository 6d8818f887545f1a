"""Which method of a connection class handles which charger-initiated CALL: ``@handles`` and ``@after``.

Routes are collected once, when a connection class is created, so no lookup happens per message.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from ocpp.v201.enums import Action

from adapters.ocpp import rpc_schema as schema

F = TypeVar("F", bound=Callable[..., Any])
_ON_MARK, _AFTER_MARK = "_rpc_handles", "_rpc_after"


class Route(NamedTuple):
    name: str
    function: Callable[..., Any]  # called with the connection as ``self``: no lookup per message
    skip_schema_validation: bool
    wants_unique_id: bool


def action_name(action: str | Action) -> str:
    name = action.value if isinstance(action, Action) else action
    if name not in schema.ACTIONS:  # a typo would otherwise surface as NotImplemented at the first charger
        raise ValueError(f"{name!r} is not an OCPP {schema.OCPP_VERSION} action")
    return name


def handles(action: str | Action, *, skip_schema_validation: bool = False) -> Callable[[F], F]:
    """Mark a method as the handler of a charger-initiated CALL (collected when its class is created)."""
    name = action_name(action)

    def mark(function: F) -> F:
        setattr(function, _ON_MARK, (*getattr(function, _ON_MARK, ()), (name, skip_schema_validation)))
        return function

    return mark


def after(action: str | Action) -> Callable[[F], F]:
    """Mark a method to run as a task, with the handler's kwargs, once that CALL was answered successfully."""
    name = action_name(action)

    def mark(function: F) -> F:
        setattr(function, _AFTER_MARK, (*getattr(function, _AFTER_MARK, ()), name))
        return function

    return mark


def collect_routes(cls: type) -> tuple[dict[str, Route], dict[str, Route]]:
    """The handlers of a class and its bases; a name redefined in a subclass replaces what the base marked."""
    on: dict[str, Route] = {}
    later: dict[str, Route] = {}
    for klass in reversed(cls.__mro__):
        own = vars(klass)
        on = {action: route for action, route in on.items() if route.name not in own}
        later = {action: route for action, route in later.items() if route.name not in own}
        for name, attr in own.items():
            if not inspect.isfunction(attr):
                continue
            wants_id = "call_unique_id" in inspect.signature(attr).parameters
            for action, skip in getattr(attr, _ON_MARK, ()):
                on[action] = Route(name, attr, skip, wants_id)
            for action in getattr(attr, _AFTER_MARK, ()):
                later[action] = Route(name, attr, False, wants_id)
    return on, later


def invoke(connection: Any, route: Route, kwargs: dict[str, Any], uid: str) -> Any:
    """Call a route's function with the CALL's kwargs (and its message id, if the function asks for it)."""
    if route.wants_unique_id:
        return route.function(connection, **kwargs, call_unique_id=uid)
    return route.function(connection, **kwargs)


async def run_after(connection: Any, route: Route, action: str, kwargs: dict[str, Any], uid: str) -> None:
    """Run an after-handler; its failure is logged and never touches the connection."""
    try:
        result = invoke(connection, route, kwargs, uid)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logging.getLogger("cloudbay.ocpp").exception("%s: after-handler for %s failed", connection.id, action)
