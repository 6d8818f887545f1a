"""A connection's inbox (adapters/ocpp/inbox.py): first in first out, and a reader waits while it is full."""

from __future__ import annotations

import asyncio

from adapters.ocpp.inbox import Gate, Inbox


def test_items_come_out_in_order_and_a_put_waits_for_room() -> None:
    async def scenario() -> list[object]:
        inbox: Inbox[int] = Inbox(2)
        await inbox.put(1)
        await inbox.put(2)
        third = asyncio.create_task(inbox.put(3))
        await asyncio.sleep(0.01)
        waited = not third.done() and len(inbox) == 2  # full: the third put waits
        first = await inbox.get()
        await asyncio.wait_for(third, 1)
        return [waited, first, await inbox.get(), await inbox.get(), len(inbox)]

    assert asyncio.run(scenario()) == [True, 1, 2, 3, 0]


def test_a_get_waits_for_the_next_put_and_a_cancelled_wait_leaves_no_waiter() -> None:
    async def scenario() -> list[object]:
        inbox: Inbox[str] = Inbox(1)
        cancelled = asyncio.create_task(inbox.get())
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        getter = asyncio.create_task(inbox.get())
        await asyncio.sleep(0.01)
        await inbox.put("frame")
        return [await asyncio.wait_for(getter, 1), len(inbox)]

    assert asyncio.run(scenario()) == ["frame", 0]


def test_a_gate_lets_every_waiter_through_once_set_and_holds_them_while_cleared() -> None:
    async def scenario() -> list[object]:
        gate = Gate()
        waiters = [asyncio.create_task(gate.wait()) for _ in range(3)]
        await asyncio.sleep(0.01)
        held = not any(w.done() for w in waiters)
        gate.set()
        through = await asyncio.wait_for(asyncio.gather(*waiters), 1)
        gate.clear()
        late = asyncio.create_task(gate.wait())
        await asyncio.sleep(0.01)
        held_again = not late.done()
        late.cancel()
        await asyncio.gather(late, return_exceptions=True)
        gate.set()
        return [held, through, held_again, gate.is_set(), await gate.wait()]

    assert asyncio.run(scenario()) == [True, [True, True, True], True, True, True]
