"""The serving node's rollout rounds: every ``ROUND_SECONDS``, one ``RolloutDispatcher.tick`` per campaign that
runs or is paused (review the counts, fail the silent, send UpdateFirmware to the chargers due, e.g. when a
maintenance window opens). Started by the serving lifespan; one failing round is logged, the next runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.rollouts")
ROUND_SECONDS = 10.0


async def rounds(runtime: Runtime, interval: float = ROUND_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            for campaign_id in await runtime.run(runtime.rollout_queries.steered):
                await runtime.platform.rollout_dispatcher.tick(campaign_id)
        except Exception:
            log.exception("a rollout round failed; the next one runs in %.0f s", interval)


@contextlib.asynccontextmanager
async def rollout_rounds(runtime: Runtime, interval: float = ROUND_SECONDS) -> AsyncIterator[None]:
    task = asyncio.create_task(rounds(runtime, interval))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
