"""The serving node's rollout rounds: each steered campaign ticked every round; a failing round does not stop
the next."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from adapters.rollout_rounds import rollout_rounds


def test_every_steered_campaign_is_ticked_each_round_and_a_failure_is_survived() -> None:
    campaign, ticked, failures = uuid4(), [], [1]

    async def tick(campaign_id: UUID) -> list[str]:
        ticked.append(campaign_id)
        if failures:
            failures.pop()
            raise RuntimeError("the store is away")
        return []

    async def run(fn: Any, *args: Any) -> Any:
        return fn(*args)

    runtime = SimpleNamespace(
        run=run,
        rollout_queries=SimpleNamespace(steered=lambda: [campaign]),
        platform=SimpleNamespace(rollout_dispatcher=SimpleNamespace(tick=tick)),
    )

    async def serve() -> None:
        async with rollout_rounds(runtime, interval=0.01):  # type: ignore[arg-type]
            for _ in range(200):
                if len(ticked) >= 3:
                    return
                await asyncio.sleep(0.01)

    asyncio.run(serve())
    assert ticked[:3] == [campaign] * 3
