"""A boot storm at the upgrade, over a real WebSocket on both stores: a charger that cannot be admitted now is told
to come back (503 with a spread ``Retry-After``), never answered 500, and nothing of it is recorded; one admitted
after waiting its turn connects and boots as usual. ``benchmarks/boot_storm.py`` measures the storm itself."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.ocpp import endpoint
from adapters.wiring import ADMISSIONS
from services.platform import StoreUnavailable, _run_for
from tests.support import LiveServer, station

STATION = "CB-STORM-1"


async def refusal(server: LiveServer, station_id: str) -> tuple[int, dict[str, str]]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url(station_id), subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
            pass
    response = refused.value.response
    return response.status_code, {k.lower(): v for k, v in response.headers.raw_items()}


def assert_retry_later(status: int, headers: dict[str, str]) -> None:
    assert status == 503
    low, high = endpoint.RETRY_AFTER_S
    assert low <= int(headers["retry-after"]) <= high


def test_a_charger_waiting_too_long_for_its_turn_is_told_to_retry_later(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.whitelist(STATION)
    before = server.head()
    monkeypatch.setattr(endpoint, "ADMISSION_WAIT_S", 0.3)
    assert server.runtime is not None
    admissions = server.runtime.admissions
    taken = ADMISSIONS  # every place taken, as by a storm of chargers being admitted

    async def take_all() -> None:
        for _ in range(taken):
            await admissions.acquire()

    async def give_back() -> None:
        for _ in range(taken):
            admissions.release()

    async def scenario() -> None:
        await server.on_loop(take_all())
        assert_retry_later(*await refusal(server, STATION))
        await server.on_loop(give_back())
        async with station(server, STATION) as cp:  # its turn comes: admitted and booted as usual
            assert (await cp.boot()).status == "Accepted"

    asyncio.run(scenario())
    assert server.head() > before  # the admitted connection and its boot were recorded, the refusal nothing


def test_a_store_that_cannot_answer_the_admission_is_503_not_500(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.whitelist(STATION)
    before = server.head()

    def unavailable(station_id: str) -> Any:
        raise StoreUnavailable(f"the store did not answer the admission of {station_id}")

    monkeypatch.setattr(server.platform.security, "admission", unavailable)
    assert_retry_later(*asyncio.run(refusal(server, STATION)))
    assert server.head() == before


def test_a_store_call_its_caller_gave_up_on_is_not_run() -> None:
    ran = threading.Event()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[None] = loop.create_future()
        answer.cancel()  # timed out (StoreUnavailable) or cancelled before a store thread took the call
        await asyncio.to_thread(_run_for, loop, answer, contextvars.copy_context(), ran.set, (), {})

    asyncio.run(scenario())
    assert not ran.is_set()
