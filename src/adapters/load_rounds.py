"""The serving node's load-management rounds: every ``RENEW_SECONDS``, ``LoadManager.renew`` balances every site
again, renewing the raised limits before they fall back to the safe share (docs/scheduling.md "Live load
management"). Started by the serving lifespan; one failing round is logged, the next runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from adapters.background import running
from services.load_management import RENEW_SECONDS, LoadManager

log = logging.getLogger("cloudbay.load")


async def rounds(load: LoadManager, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await load.renew()
        except Exception:
            log.exception("renewing the sites' limits failed; again in %.0f s", interval)


def load_rounds(load: LoadManager, interval: float = RENEW_SECONDS) -> contextlib.AbstractAsyncContextManager[None]:
    return running(rounds(load, interval))
