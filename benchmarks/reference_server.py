"""Reference servers for the charging load: what this machine can do with the least code in the way.

``--database URL``: plain ``websockets`` + ``json``. Every TransactionEvent is inserted into PostgreSQL and
committed before its CALLRESULT is sent, with group commit: one asyncio writer task takes every event queued
while it wrote the previous batch, COPYs them into one table in one transaction, commits, then resolves each
waiting message, whose answer is sent then. No validation; Heartbeat, BootNotification, StatusNotification and
any other action are answered at once, storing nothing. ``synchronous_commit`` stays on.

``--ocpp-library``: the ``ocpp`` library's ChargePoint answering the same actions, storing nothing.

Both listen on 127.0.0.1 only and print their counters on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from contextlib import suppress
from typing import Any

import psycopg
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from rawload import now_iso
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

OCPP201 = Subprotocol("ocpp2.0.1")
TABLE = (
    "CREATE TABLE IF NOT EXISTS reference_events (id bigserial PRIMARY KEY, station text NOT NULL, frame text NOT NULL)"
)


class GroupCommit:
    """One writer task: everything queued meanwhile goes into one COPY and one commit."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[tuple[tuple[str, str], asyncio.Future[None]]] = asyncio.Queue()
        self.batches = self.rows = 0

    async def append(self, station: str, frame: str) -> None:
        """Return once the frame is committed."""
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(((station, frame), done))
        await done

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                async with self.conn.cursor() as cur:
                    async with cur.copy("COPY reference_events (station, frame) FROM STDIN") as copy:
                        for row, _ in batch:
                            await copy.write_row(row)
                await self.conn.commit()
            except Exception as e:
                await self.conn.rollback()
                for _, done in batch:
                    done.set_exception(e)
                continue
            self.batches, self.rows = self.batches + 1, self.rows + len(batch)
            for _, done in batch:
                done.set_result(None)


def answer_to(action: str) -> dict[str, Any]:
    if action == "BootNotification":
        return {"currentTime": now_iso(), "interval": 300, "status": "Accepted"}
    if action == "Heartbeat":
        return {"currentTime": now_iso()}
    return {}


async def plain(port: int, database: str) -> None:
    conn = await psycopg.AsyncConnection.connect(database)
    await conn.execute(TABLE)
    await conn.commit()
    writer = GroupCommit(conn)
    writing = asyncio.create_task(writer.run())

    async def session(ws: ServerConnection) -> None:
        station = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        with suppress(ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                if not isinstance(frame, list) or len(frame) != 4 or frame[0] != 2:
                    continue  # answers to calls we never make, and anything else: no validation here
                if frame[2] == "TransactionEvent":
                    await writer.append(station, str(raw))
                await ws.send(json.dumps([3, frame[1], answer_to(frame[2])], separators=(",", ":")))

    started = time.monotonic()
    try:
        await until_terminated(session, port)
    finally:
        writing.cancel()
        mean = writer.rows / writer.batches if writer.batches else 0
        print(
            f"stored {writer.rows} TransactionEvents in {writer.batches} commits (mean batch {mean:.1f}) "
            f"over {time.monotonic() - started:.0f}s",
            flush=True,
        )
        await conn.close()


class LibraryCSMS(ChargePoint):
    """The ``ocpp`` library's CSMS side answering the benchmarks' actions, storing nothing."""

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=now_iso(), interval=300, status="Accepted")

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.transaction_event)
    def on_transaction_event(self, **_: Any) -> Any:
        return call_result.TransactionEvent()

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now_iso())


async def library(port: int) -> None:
    async def session(ws: ServerConnection) -> None:
        with suppress(Exception):
            await LibraryCSMS(ws.request.path.rsplit("/", 1)[-1] if ws.request else "?", ws).start()

    await until_terminated(session, port)


async def until_terminated(session: Any, port: int) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    options: dict[str, Any] = {"subprotocols": [OCPP201], "ping_interval": None, "compression": None}
    async with serve(session, "127.0.0.1", port, backlog=4096, **options):
        await stopping.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--database", help="postgresql://... : store every TransactionEvent before its answer")
    kind.add_argument("--ocpp-library", action="store_true", help="the ocpp library's ChargePoint, storing nothing")
    args = p.parse_args()
    asyncio.run(library(args.port) if args.ocpp_library else plain(args.port, args.database))


if __name__ == "__main__":
    main()
