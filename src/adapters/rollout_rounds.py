"""The serving node's rounds, every ``ROUND_SECONDS``: the rollout round, one ``RolloutDispatcher.tick`` per
campaign that runs or is paused (review the counts, fail the silent, send UpdateFirmware to the chargers due,
e.g. when a maintenance window opens); the schedule round, ``Schedules.follow`` (stop the transactions whose
plan ended or whose energy is delivered); the site round, every ``RENEW_SECONDS``, ``LoadManager.renew`` (every
site balanced again, raised limits renewed before they fall back). Started by the serving lifespan; one failing
round is logged, the next runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.rollouts")
ROUND_SECONDS = 10.0


async def rollout_round(runtime: Runtime) -> None:
    for campaign_id in await runtime.run(runtime.rollout_queries.steered):
        await runtime.platform.rollout_dispatcher.tick(campaign_id)


async def schedule_round(runtime: Runtime) -> None:
    await runtime.platform.schedules.follow()


async def site_round(runtime: Runtime) -> None:
    await runtime.platform.load.renew()


Round = Callable[["Runtime"], Awaitable[Any]]


async def rounds(runtime: Runtime, interval: float = ROUND_SECONDS, step: Round = rollout_round) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await step(runtime)
        except Exception:
            log.exception("%s failed; the next one runs in %.0f s", step.__name__, interval)


@contextlib.asynccontextmanager
async def rollout_rounds(
    runtime: Runtime, interval: float = ROUND_SECONDS, step: Round = rollout_round
) -> AsyncIterator[None]:
    """Run ``step`` every ``interval`` seconds while the block runs."""
    task = asyncio.create_task(rounds(runtime, interval, step))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
