"""The stored side of load management: every site, its nested circuits and the chargers assigned to them, in one
small aggregate (``SiteLayout``; a layout changes rarely, and one stream makes "a charger is on at most one
circuit" and "the parents form a tree" plain invariants). The balancing itself is ``load_balancing``.

A **site** is a node without a parent; a **circuit** has a parent (a site or another circuit). Every node has a
``max_current_a`` (A per phase) and/or a ``max_power_w``, each above 0. A child's limit may exceed its parent's:
the parent still caps everything under it. Each circuit's limits must cover the sum of the minimum currents of
the chargers under it (every charger can then always charge), else ``InvalidSite`` (422).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.load_balancing import ChargerLoad, Circuit, InvalidSite
from cloudbay_domain.load_balancing import Site as BalancedSite
from cloudbay_domain.planner import VOLTAGE

LAYOUT_ID = uuid5(NAMESPACE_URL, "cloudbay:site-layout")
DEFAULT_MAX_A = Decimal(16)  # a charger's own limit when it is assigned without one (as for quotes)
DEFAULT_MIN_A = Decimal(6)  # IEC 61851: the least current an AC car charges at
MAX_DEPTH = 16


class SiteConflict(ValueError):
    """A change the layout's present state refuses (a circuit with circuits under it cannot be removed)."""


class UnknownSite(LookupError):
    """No site or circuit of that id."""


@dataclass(frozen=True)
class Node:
    """A site (no ``parent``) or a circuit."""

    node_id: str
    name: str
    parent: str | None
    max_current_a: Decimal | None
    max_power_w: Decimal | None
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": self.name,
            "parent": self.parent,
            "max_current_a": _text(self.max_current_a),
            "max_power_w": _text(self.max_power_w),
            "created_by": self.created_by,
        }

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Node:
        return cls(
            raw["node_id"],
            raw["name"],
            raw["parent"],
            _decimal(raw["max_current_a"]),
            _decimal(raw["max_power_w"]),
            raw["created_by"],
        )


@dataclass(frozen=True)
class Placement:
    """A charger on a circuit: its priority (higher first) and its own limits."""

    circuit: str
    priority: int = 0
    max_current_a: Decimal = DEFAULT_MAX_A
    min_current_a: Decimal = DEFAULT_MIN_A
    phases: int = 3

    def to_json(self) -> dict[str, Any]:
        return {
            "circuit": self.circuit,
            "priority": self.priority,
            "max_current_a": str(self.max_current_a),
            "min_current_a": str(self.min_current_a),
            "phases": self.phases,
        }

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Placement:
        return cls(
            raw["circuit"],
            raw["priority"],
            Decimal(raw["max_current_a"]),
            Decimal(raw["min_current_a"]),
            raw["phases"],
        )


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def check_node(node: Node) -> None:
    if not node.name.strip() or len(node.name) > 200:
        raise InvalidSite("a site or circuit needs a name of 1 to 200 characters")
    if node.max_current_a is None and node.max_power_w is None:
        raise InvalidSite(f"{node.name}: give max_current_a, max_power_w or both")
    for label, limit in (("max_current_a", node.max_current_a), ("max_power_w", node.max_power_w)):
        if limit is not None and not limit > 0:
            raise InvalidSite(f"{node.name}: {label} must be above 0, not {limit}")


def check_placement(station_id: str, placement: Placement) -> None:
    if not 0 <= placement.min_current_a <= placement.max_current_a or not placement.max_current_a > 0:
        raise InvalidSite(f"charger {station_id}: min_current_a must be from 0 to max_current_a, and that above 0")
    if placement.phases not in (1, 2, 3):
        raise InvalidSite(f"charger {station_id}: phases is 1, 2 or 3")


class SiteLayout(Aggregate):
    """Every site and circuit (``nodes``) and where each assigned charger is (``placements``)."""

    class Created(Aggregate.Created):
        pass

    @event(Created)
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.placements: dict[str, Placement] = {}

    @classmethod
    def create_id(cls) -> Any:
        return LAYOUT_ID

    # --- reading ---------------------------------------------------------------------------------

    def node(self, node_id: str) -> Node:
        if node_id not in self.nodes:
            raise UnknownSite(f"no site or circuit {node_id}")
        return self.nodes[node_id]

    def root_of(self, node_id: str, nodes: Mapping[str, Node] | None = None) -> str:
        nodes = self.nodes if nodes is None else nodes
        seen: list[str] = []
        while (parent := nodes[node_id].parent) is not None:
            if node_id in seen or len(seen) > MAX_DEPTH:
                raise InvalidSite(f"circuit {node_id} would be under itself, or circuits nest too deep")
            seen.append(node_id)
            node_id = parent
        return node_id

    def children(self, node_id: str) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.parent == node_id), key=lambda n: n.name)

    def chargers_on(self, node_id: str) -> dict[str, Placement]:
        return {s: p for s, p in sorted(self.placements.items()) if p.circuit == node_id}

    def sites(self) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.parent is None), key=lambda n: (n.name, n.node_id))

    def site_of(self, station_id: str) -> str | None:
        placement = self.placements.get(station_id)
        return self.root_of(placement.circuit) if placement is not None else None

    def balanced(self, root_id: str) -> BalancedSite:
        """The site ``root_id`` for the balancer, no car on any charger."""
        return _balanced(self.nodes, self.placements, root_id)

    # --- changing (each checked on what the layout would be, before anything is recorded) ----------

    class NodeSet(Aggregate.Event):
        node: dict[str, Any]

    def set_node(self, node: Node) -> list[str]:
        """Add or change a site or circuit; the roots whose balance changed."""
        check_node(node)
        if node.parent is not None and node.parent not in self.nodes:
            raise InvalidSite(f"parent {node.parent} is no site or circuit")
        before = self.root_of(node.node_id) if node.node_id in self.nodes else None
        nodes = {**self.nodes, node.node_id: node}
        root = self.root_of(node.node_id, nodes)
        _check_tree(nodes, self.placements, {root})
        self._node_set(node=node.to_json())
        return sorted({root, before} - {None})  # type: ignore[arg-type]

    @event(NodeSet)
    def _node_set(self, node: dict[str, Any]) -> None:
        parsed = Node.parse(node)
        self.nodes[parsed.node_id] = parsed

    class NodeRemoved(Aggregate.Event):
        node_id: str

    def remove_node(self, node_id: str) -> list[str]:
        """Remove a site or circuit without circuits under it; its chargers are no longer assigned."""
        root = self.root_of(self.node(node_id).node_id)
        if self.children(node_id):
            raise SiteConflict(f"{node_id} has circuits under it: remove or move them first")
        self._node_removed(node_id=node_id)
        return [root]

    @event(NodeRemoved)
    def _node_removed(self, node_id: str) -> None:
        del self.nodes[node_id]
        for station_id in [s for s, p in self.placements.items() if p.circuit == node_id]:
            del self.placements[station_id]

    class ChargerAssigned(Aggregate.Event):
        station_id: str
        placement: dict[str, Any] | None  # None: no longer assigned

    def assign(self, station_id: str, placement: Placement) -> list[str]:
        """Put the charger on ``placement.circuit`` (moving it from any other); the roots whose balance changed."""
        check_placement(station_id, placement)
        self.node(placement.circuit)
        before = self.site_of(station_id)
        placements = {**self.placements, station_id: placement}
        root = self.root_of(placement.circuit)
        _check_tree(self.nodes, placements, {root})
        self._assigned(station_id=station_id, placement=placement.to_json())
        return sorted({root, before} - {None})  # type: ignore[arg-type]

    def unassign(self, station_id: str) -> list[str]:
        before = self.site_of(station_id)
        if before is None:
            return []
        self._assigned(station_id=station_id, placement=None)
        return [before]

    @event(ChargerAssigned)
    def _assigned(self, station_id: str, placement: dict[str, Any] | None) -> None:
        if placement is None:
            self.placements.pop(station_id, None)
        else:
            self.placements[station_id] = Placement.parse(placement)


def _balanced(nodes: Mapping[str, Node], placements: Mapping[str, Placement], root_id: str) -> BalancedSite:
    def circuit(node: Node, depth: int) -> Circuit:
        if depth > MAX_DEPTH:
            raise InvalidSite("circuits nest too deep")
        under = sorted((n for n in nodes.values() if n.parent == node.node_id), key=lambda n: n.node_id)
        amps = Fraction(node.max_current_a) if node.max_current_a is not None else None
        watts = Fraction(node.max_power_w) if node.max_power_w is not None else None
        return Circuit(node.node_id, amps, watts, tuple(circuit(n, depth + 1) for n in under))

    root = circuit(nodes[root_id], 0)
    members = {c.circuit_id for c, _ in root.walk()}
    loads = [
        ChargerLoad(
            station_id,
            p.circuit,
            Fraction(p.max_current_a),
            Fraction(p.min_current_a),
            p.phases,
            p.priority,
        )
        for station_id, p in sorted(placements.items())
        if p.circuit in members
    ]
    return BalancedSite(root, loads)


def _check_tree(nodes: Mapping[str, Node], placements: Mapping[str, Placement], roots: Iterable[str]) -> None:
    """Each circuit of ``roots`` covers the minimum currents of every charger under it, summed."""
    for root_id in roots:
        site = _balanced(nodes, placements, root_id)
        for circuit, _ in site.root.walk():
            under = {c.circuit_id for c, _ in circuit.walk()}
            loads = [c for c in site.chargers.values() if c.circuit_id in under]
            amps = sum((c.min_current_a for c in loads), Fraction(0))
            watts = sum((c.min_current_a * VOLTAGE * c.phases for c in loads), Fraction(0))
            name = nodes[circuit.circuit_id].name
            if circuit.max_current_a is not None and circuit.max_current_a < amps:
                raise InvalidSite(
                    f"{name}: max_current_a {nodes[circuit.circuit_id].max_current_a} is below the sum of the "
                    f"minimum currents of its {len(loads)} chargers ({float(amps):g} A)"
                )
            if circuit.max_power_w is not None and circuit.max_power_w < watts:
                raise InvalidSite(
                    f"{name}: max_power_w {nodes[circuit.circuit_id].max_power_w} is below the sum of the "
                    f"minimum powers of its {len(loads)} chargers ({float(watts):g} W)"
                )
