"""Presence as a lease: a charger is online while the node holding its session is alive.

Every serving node keeps one row in ``cloudbay_node_leases`` (read-model database) and renews it every third
of ``CLOUDBAY_NODE_LEASE_SECONDS``; a node whose row has expired (or that has none) is dead. The same thread
then sweeps: for each charger the fleet read model shows online, it records ``Charger.Disconnected`` when the
session belongs to a dead node, or to this node but is not one this process holds (left by its previous life:
a SIGKILL, a crash). Each close is a normal optimistic-concurrency change of the charger (``Chargers.close_stale``):
a charger that reconnected elsewhere meanwhile is left alone. A node whose own lease lapsed (its database was
away longer than the lease) records ``Connected`` again for the sessions it still holds that were swept.
Node names (``CLOUDBAY_NODE``) must be unique among running nodes, and their clocks agree to well within a lease.
"""

from __future__ import annotations

import logging
import threading
import time

from projections.db import ReadModelDB
from services.chargers import Chargers

log = logging.getLogger("cloudbay.presence")

DDL = "CREATE TABLE IF NOT EXISTS cloudbay_node_leases (node TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)"


class NodePresence:
    def __init__(self, db: ReadModelDB, chargers: Chargers, node: str, lease_seconds: float) -> None:
        self.db, self.chargers, self.node, self.lease_seconds = db, chargers, node, lease_seconds
        self.live: dict[str, str] = {}  # session id -> station id: the sessions this process holds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._prepared = False
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def opening(self, station_id: str, session_id: str) -> None:
        """Called before a session's ``Connected`` is recorded, so no sweep can close it."""
        with self._lock:
            self.live[session_id] = station_id

    def closed(self, session_id: str) -> None:
        with self._lock:
            self.live.pop(session_id, None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.renew()
                self.sweep()
            except Exception as e:  # the store is away: retried at the next beat
                log.warning("presence: lease renewal or sweep failed: %s: %s", type(e).__name__, e)
            self._stop.wait(self.lease_seconds / 3)

    def renew(self) -> None:
        now = time.time()
        with self.db.transaction() as tx:
            if not self._prepared:
                tx.execute(DDL)
                self._prepared = True
            rows = tx.fetchall("SELECT expires_at FROM cloudbay_node_leases WHERE node = %s", (self.node,))
            tx.execute(
                "INSERT INTO cloudbay_node_leases (node, expires_at) VALUES (%s, %s)"
                " ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at",
                (self.node, now + self.lease_seconds),
            )
        if rows and rows[0]["expires_at"] < now:
            self._reopen_swept()

    def _reopen_swept(self) -> None:
        with self._lock:
            live = dict(self.live)
        for session_id, station_id in live.items():
            if self.chargers.reopen(station_id, session_id, self.node):
                log.warning("presence: this node's lease had lapsed; %s is recorded connected again", station_id)

    def sweep(self) -> int:
        """Close the sessions of dead nodes and this node's sessions from a previous life; how many closed."""
        now, closed = time.time(), 0
        with self.db.transaction(write=False) as tx:
            alive = {
                r["node"] for r in tx.fetchall("SELECT node FROM cloudbay_node_leases WHERE expires_at >= %s", (now,))
            }
            online = tx.fetchall(
                "SELECT station_id, node FROM rm_chargers WHERE presence = 'online' AND node IS NOT NULL"
            )
        with self._lock:  # once per sweep: the fleet may be tens of thousands of rows
            keep, held = set(self.live), set(self.live.values())
        for row in online:
            station_id, node = row["station_id"], row["node"]
            if node == self.node:
                if station_id in held:  # its session is this process's (or is being replaced by it)
                    continue
                mine, reason = keep, f"node {node} restarted"
            elif node in alive:
                continue
            else:
                mine, reason = set(), f"node {node} stopped renewing its lease"
            if self.chargers.close_stale(station_id, node, mine, reason):
                log.warning("presence: %s recorded disconnected: %s", station_id, reason)
                closed += 1
        return closed
