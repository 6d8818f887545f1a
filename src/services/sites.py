"""Sites and circuits for load management: load → command → save on the one ``SiteLayout``, then the listeners
are told which sites' balance changed (after the commit: the load manager re-balances them)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cloudbay_domain.load_balancing import safe_shares
from cloudbay_domain.planner import VOLTAGE
from cloudbay_domain.sites import Node, Placement, SiteLayout, UnknownSite
from services.chargers import Chargers, not_whitelisted
from services.errors import ServiceError
from services.store import EventLog

RECENT_SECONDS = 5.0
Listener = Callable[[list[str]], None]  # the ids of the sites whose balance changed


class NoSite(ServiceError):
    """No site or circuit of that id (or not one the caller may see)."""


class Sites:
    def __init__(self, log: EventLog, chargers: Chargers) -> None:
        self.log, self.chargers = log, chargers
        self.listeners: list[Listener] = []
        self._recent: tuple[float, SiteLayout] | None = None  # (when read, the layout): see ``recent_layout``

    def layout(self) -> SiteLayout:
        record: SiteLayout | None = self.log.load_or_none(SiteLayout.create_id())
        return record if record is not None else SiteLayout()

    def recent_layout(self) -> SiteLayout:
        """The layout as read at most ``RECENT_SECONDS`` ago: enough to tell whether a charger is on a site at all
        on every car's arrival and departure and every boot, without a store read each time (a change made here
        is seen at once; one made by another process within that time)."""
        layout = self.fresh_layout()
        if layout is None:
            layout = self.layout()
            self._recent = (time.monotonic(), layout)
        return layout

    def fresh_layout(self) -> SiteLayout | None:
        """``recent_layout`` when it needs no store read (any thread: the event loop asks on every arrival)."""
        recent = self._recent
        return recent[1] if recent is not None and time.monotonic() - recent[0] <= RECENT_SECONDS else None

    def guaranteed_power_w(self, station_id: str) -> Fraction | None:
        """The power the charger's site guarantees it (W: its safe share, when every charger of the site charges),
        or None on no site: what a plan for it may count on, whoever else plugs in."""
        layout = self.layout()
        root = layout.site_of(station_id)
        if root is None:
            return None
        amps = safe_shares(layout.balanced(root)).get(station_id, Fraction(0))
        return amps * VOLTAGE * layout.placements[station_id].phases

    def _change(self, what: str, command: Callable[[SiteLayout], tuple[Any, list[str]]]) -> Any:
        def attempt() -> tuple[tuple[Any, list[str]], list[Any]]:
            layout = self.layout()
            try:
                result = command(layout)
            except UnknownSite as e:
                raise NoSite(str(e)) from None
            return result, [layout]

        result, roots = self.log.retrying(attempt, what)
        self._recent = None
        for listener in self.listeners:
            listener(roots)
        return result

    def node(self, node_id: str) -> Node:
        try:
            return self.layout().node(node_id)
        except UnknownSite as e:
            raise NoSite(str(e)) from None

    def owner_of(self, node_id: str) -> str:
        """Who created the site ``node_id`` is on (it is theirs, and every circuit under it)."""
        layout = self.layout()
        try:
            return layout.node(layout.root_of(layout.node(node_id).node_id)).created_by
        except UnknownSite as e:
            raise NoSite(str(e)) from None

    def create(
        self,
        name: str,
        parent: str | None,
        max_current_a: Decimal | None,
        max_power_w: Decimal | None,
        by: str,
        node_id: str | None = None,
    ) -> Node:
        node = Node(node_id or uuid.uuid4().hex[:12], name, parent, max_current_a, max_power_w, by)
        return self._change(f"site {node.node_id}", lambda layout: (node, layout.set_node(node)))  # type: ignore[no-any-return]

    def change(self, node_id: str, changes: dict[str, Any]) -> Node:
        def command(layout: SiteLayout) -> tuple[Node, list[str]]:
            node = layout.node(node_id)
            changed = Node(**{**vars(node), **changes})
            return changed, layout.set_node(changed)

        return self._change(f"site {node_id}", command)  # type: ignore[no-any-return]

    def remove(self, node_id: str) -> None:
        self._change(f"site {node_id}", lambda layout: (None, layout.remove_node(node_id)))

    def assign(self, station_id: str, placement: Placement) -> Placement:
        if not self.chargers.exists(station_id):
            raise not_whitelisted(station_id)
        return self._change(
            f"charger {station_id}'s circuit", lambda layout: (placement, layout.assign(station_id, placement))
        )  # type: ignore[no-any-return]

    def unassign(self, station_id: str, node_id: str) -> None:
        """Take the charger off the site ``node_id`` (a charger on another site, or none: nothing is done)."""

        def command(layout: SiteLayout) -> tuple[None, list[str]]:
            layout.node(node_id)
            if layout.site_of(station_id) != layout.root_of(node_id):
                return None, []
            return None, layout.unassign(station_id)

        self._change(f"charger {station_id}'s circuit", command)
