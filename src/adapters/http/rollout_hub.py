"""The rollout feed's fan-out: which campaigns each of the ``rollouts`` follower's committed batches touched, to
the connections watching them (``adapters.http.live_rollouts`` turns that into progress messages).

A batch touches a campaign through the campaign's own events (its decisions) and its chargers' ``FirmwareUpdate``
events (each names its campaign). Per batch, each watcher of a touched campaign is offered one mark, the batch's
last position: a watcher's marks are coalesced into one message, so a batch is never a message by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from adapters.http.live_hub import QUEUE_SIZE, Watchers
from cloudbay_domain.firmware_update import FirmwareUpdate
from cloudbay_domain.rollout import RolloutCampaign

INTERVAL = 0.25  # seconds between two progress messages of one watcher, at least: a few a second


def touched_campaign(event: Any) -> str | None:
    """The campaign an event of the rollouts projection moves, if any."""
    if isinstance(event, RolloutCampaign.Event):
        return str(event.originator_id)
    if isinstance(event, FirmwareUpdate.Event):
        campaign_id = getattr(event, "campaign_id", None)
        return None if campaign_id is None else str(campaign_id)
    return None


@dataclass(eq=False)
class RolloutWatch:
    """One connection's interest in one campaign; lives on the connection's event loop."""

    campaign_id: str
    loop: asyncio.AbstractEventLoop
    marks: asyncio.Queue[int]  # the positions of the batches that touched the campaign, not yet pushed
    after: int = 0  # marks at or before this position are in what was sent already
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, position: int) -> None:
        """Queue a batch's mark (on the loop); when ``marks`` is full the client has fallen behind."""
        if self.overflowed.is_set():
            return
        try:
            self.marks.put_nowait(position)
        except asyncio.QueueFull:
            self.overflowed.set()

    def take(self) -> int:
        """Every mark queued, as the latest position (0: none)."""
        latest = 0
        while not self.marks.empty():
            latest = max(latest, self.marks.get_nowait())
        return latest


class RolloutHub:
    """Fans the ``rollouts`` follower's committed batches out to the connections watching a campaign.

    ``publish`` runs in the follower's thread; each watcher is offered its mark on its own loop with
    ``call_soon_threadsafe``. ``latest`` shares the last progress read of a campaign among its watchers.
    """

    def __init__(self, queue_size: int = QUEUE_SIZE, interval: float = INTERVAL) -> None:
        self.queue_size, self.interval = queue_size, interval
        self._watches: Watchers[RolloutWatch] = Watchers()
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[int, dict[str, Any]]] = {}  # campaign → (read-model position, its body)

    def subscribe(self, campaign_id: str) -> RolloutWatch:
        watch = RolloutWatch(campaign_id, asyncio.get_running_loop(), asyncio.Queue(self.queue_size))
        self._watches.add(campaign_id, watch)
        return watch

    def unsubscribe(self, watch: RolloutWatch) -> None:
        if self._watches.remove(watch.campaign_id, watch):
            with self._lock:
                self._latest.pop(watch.campaign_id, None)

    def watched(self) -> int:
        return self._watches.count()

    def latest(self, campaign_id: str, position: int) -> tuple[int, dict[str, Any]] | None:
        """The campaign's body last read (and the read model's position then), if read at ``position`` or later."""
        with self._lock:
            known = self._latest.get(campaign_id)
        return known if known is not None and known[0] >= position else None

    def remember(self, campaign_id: str, position: int, body: dict[str, Any]) -> None:
        """Keep the campaign's latest read for its other watchers (a read after everyone left is dropped)."""
        watched = self._watches.by_key()
        with self._lock:
            known = self._latest.get(campaign_id)
            if known is None or known[0] <= position:
                self._latest[campaign_id] = (position, body)
            for campaign in set(self._latest) - set(watched):
                del self._latest[campaign]

    def publish(self, batch: list[tuple[int, Any]]) -> None:
        """The follower's subscriber: one mark per touched campaign, to the connections watching it."""
        watchers = self._watches.by_key()
        if not watchers:
            return
        touched: dict[str, int] = {}
        for position, event in batch:
            campaign_id = touched_campaign(event)
            if campaign_id in watchers:
                touched[campaign_id] = max(position, touched.get(campaign_id, 0))
        for campaign_id, position in touched.items():
            for watch in watchers[campaign_id]:
                with contextlib.suppress(RuntimeError):  # its loop has closed: the server is going down
                    watch.loop.call_soon_threadsafe(watch.offer, position)
