"""The rollout feed's fan-out: one mark per batch for each watcher of a campaign the batch touched, coalesced
when taken; a watcher whose marks pile up is marked as fallen behind; the latest read is shared."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.http.rollout_hub import RolloutHub, touched_campaign
from cloudbay_domain.firmware_update import FirmwareUpdate
from cloudbay_domain.rollout import RolloutCampaign
from cloudbay_domain.rollout_policy import Image, RolloutPolicy

IMAGE = Image("2.0.0", "https://firmware.example.com/2.0.0.bin")


def campaign() -> RolloutCampaign:
    return RolloutCampaign.draft("home-22kw", "stable", IMAGE, RolloutPolicy(), "operator@example.com")


def test_marks_of_the_touched_campaigns_reach_their_watchers_only() -> None:
    watched, other = campaign(), campaign()
    update = FirmwareUpdate.open("CB-1", watched.id, 0, "UTC", "2.0.0", IMAGE.location, "1.0.0")
    elsewhere = FirmwareUpdate.open("CB-2", other.id, 0, "UTC", "2.0.0", IMAGE.location, "1.0.0")
    assert touched_campaign(watched.collect_events()[0]) == str(watched.id)
    events: list[Any] = [*update.collect_events(), *elsewhere.collect_events()]
    assert [touched_campaign(e) for e in events] == [str(watched.id), str(other.id)]

    async def scenario() -> tuple[list[int], int]:
        hub = RolloutHub(queue_size=3)
        watch = hub.subscribe(str(watched.id))
        hub.publish([(10, events[0]), (11, events[1])])  # one batch: one mark, its latest position of the campaign
        hub.publish([(12, events[1])])  # touches another campaign only
        hub.publish([(13, events[0]), (14, events[0])])
        await asyncio.sleep(0)  # the offers run on the loop
        marks = [watch.marks.get_nowait(), watch.marks.get_nowait()]
        hub.publish([(15, events[0])])
        hub.publish([(16, events[0])])
        await asyncio.sleep(0)
        taken = watch.take()  # everything queued, coalesced
        hub.unsubscribe(watch)
        assert hub.watched() == 0 and not watch.overflowed.is_set()
        return marks, taken

    assert asyncio.run(scenario()) == ([10, 14], 16)


def test_a_watcher_whose_marks_pile_up_has_fallen_behind() -> None:
    c = campaign()
    event = c.collect_events()[0]

    async def scenario() -> bool:
        hub = RolloutHub(queue_size=2)
        watch = hub.subscribe(str(c.id))
        for position in (1, 2, 3):
            hub.publish([(position, event)])
        await asyncio.sleep(0)
        return watch.overflowed.is_set()

    assert asyncio.run(scenario())


def test_the_latest_read_is_shared_while_someone_watches() -> None:
    async def scenario() -> list[Any]:
        hub = RolloutHub()
        watch = hub.subscribe("c1")
        hub.remember("c1", 5, {"settled": 1})
        hub.remember("c1", 4, {"settled": 0})  # an older read does not replace a newer one
        seen = [hub.latest("c1", 5), hub.latest("c1", 6)]
        hub.unsubscribe(watch)
        seen.append(hub.latest("c1", 0))  # forgotten with its last watcher
        return seen

    assert asyncio.run(scenario()) == [(5, {"settled": 1}), None, None]
