"""Test support: a real uvicorn server on a free port, a real OCPP 2.0.1 client over a real WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from uvicorn._compat import asyncio_run
from websockets.asyncio.client import ClientConnection, connect

from adapters.auth import Role
from adapters.http.app import create_app
from adapters.serving import Servers, build_servers
from adapters.settings import Settings, StoreSettings
from adapters.wiring import Runtime
from cloudbay_domain.user import UserRole
from services.platform import Platform
from services.ports import ChargerRequest
from services.users import UnknownUser
from tests.pg_template import create_test_database, drop_test_database

A = TypeVar("A")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class LiveServer:
    """The whole platform behind a real uvicorn server on 127.0.0.1, in a thread of the test process."""

    def __init__(self, store_url: str, data_dir: Path, **overrides: Any) -> None:
        self.settings = Settings(store=StoreSettings(store_url), data_dir=data_dir, node="test-node", **overrides)
        self.runtime: Runtime | None = None
        self._server: Servers | None = None
        self._thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's event loop, once it runs
        self.port = self.tls_port = 0

    def start(self) -> LiveServer:
        self.runtime = Runtime(self.settings)
        sock = free_socket()
        self.port = sock.getsockname()[1]
        secure = [free_socket()] if self.settings.tls_cert is not None else None
        self.tls_port = secure[0].getsockname()[1] if secure else 0
        self._server = build_servers(
            create_app(runtime=self.runtime),
            self.settings,
            secure_sockets=secure,
            lifespan="on",
            log_level="warning",
            ws_ping_interval=None,
        )
        links = self.runtime.platform.rollouts.links
        if links is not None and self.settings.firmware_files.base_url is None:
            links.base_url = self.base_url  # download links point at this server
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def _serve(self, sock: socket.socket) -> None:
        server = self._server
        assert server is not None

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        asyncio_run(serve(), loop_factory=server.config.get_loop_factory())

    async def on_loop(self, work: Coroutine[Any, Any, A]) -> A:
        """Run ``work`` on the server's event loop (where the chargers' sessions are), and wait for it."""
        assert self.loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    async def ask(self, station_id: str, request: ChargerRequest[A], timeout: float = 10) -> A:
        """Send ``request`` to a connected station through the platform's link, on the server's event loop."""
        assert self.runtime is not None
        return await self.on_loop(self.runtime.link.request(station_id, request, timeout))

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            if self.loop is not None and not self.loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed meanwhile: it has stopped
                    self.loop.call_soon_threadsafe(self._server.request_exit)
            self._thread.join(timeout=10)
        if self.runtime is not None:
            self.runtime.close()
        self.runtime = None

    @property
    def platform(self) -> Platform:
        assert self.runtime is not None
        return self.runtime.platform

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{station_id}"

    def wss_url(self, station_id: str) -> str:
        return f"wss://127.0.0.1:{self.tls_port}/ocpp/{station_id}"

    def head(self) -> int:
        assert self.runtime is not None
        return self.runtime.head_position()

    def settle(self) -> None:
        """Wait until every read model has applied every stored event."""
        assert self.runtime is not None
        assert self.runtime.wait_for_read_models(timeout=10)

    def token(self, email: str = "operator@example.com", role: Role = Role.OPERATOR) -> str:
        """A token for ``email`` (registered first if unknown) with ``role``, at the user's current generation."""
        assert self.runtime is not None
        try:
            user = self.platform.users.get(email)
        except UnknownUser:
            user = self.platform.users.register(email, UserRole(role.value), "unused")
        return self.runtime.issuer.issue(user.email, [role], generation=user.generation)

    def http(self, role: Role | None = Role.OPERATOR, email: str | None = None) -> httpx.Client:
        headers = {}
        if role is not None:
            token = self.token(email or f"{role.value}@example.com", role)
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)

    def whitelist(self, station_id: str, family: str = "default") -> None:
        """Whitelist the station (unless it is already: tests sharing one server whitelist the same one)."""
        if not self.platform.chargers.exists(station_id):
            self.platform.chargers.whitelist(station_id, family)


class Station(ChargePoint):
    """A simulated charger: the ``ocpp`` library's own OCPP 2.0.1 client, answering the CSMS's calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []  # CSMS-initiated calls, in order
        self.local_list_version = 0
        self.start_answer = "Accepted"
        self.stop_answer = "Accepted"
        self.answer_delay = 0.0

    async def _answer(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        await self._answer("GetLocalListVersion", kwargs)
        return call_result.GetLocalListVersion(version_number=self.local_list_version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number: int, update_type: str, **kwargs: Any) -> Any:
        await self._answer("SendLocalList", {"version_number": version_number, "update_type": update_type, **kwargs})
        self.local_list_version = version_number
        return call_result.SendLocalList(status="Accepted")

    @on(Action.request_start_transaction)
    async def on_request_start_transaction(self, **kwargs: Any) -> Any:
        await self._answer("RequestStartTransaction", kwargs)
        return call_result.RequestStartTransaction(status=self.start_answer)

    @on(Action.request_stop_transaction)
    async def on_request_stop_transaction(self, **kwargs: Any) -> Any:
        await self._answer("RequestStopTransaction", kwargs)
        return call_result.RequestStopTransaction(status=self.stop_answer)

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self._answer("SetVariables", {"set_variable_data": set_variable_data})
        results = [
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data
        ]
        return call_result.SetVariables(set_variable_result=results)

    async def transaction_event(self, event_type: str, tx: str, seq: int, **fields: Any) -> Any:
        """Send a TransactionEvent; ``wh`` adds an energy register sample, ``at`` sets the timestamp."""
        at = fields.pop("at", "2026-11-25T10:00:00Z")
        info = {"transaction_id": tx, **fields.pop("info", {})}
        meter = fields.pop("meter", None)
        if "wh" in fields:
            meter = [{"timestamp": at, "sampled_value": [{"value": fields.pop("wh")}]}]
        return await self.call(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=at,
                trigger_reason=fields.pop("trigger", "MeterValuePeriodic"),
                seq_no=seq,
                transaction_info=info,
                meter_value=meter,
                evse=fields.pop("evse", {"id": 1, "connector_id": 1}),
                **fields,
            ),
            suppress=False,
        )

    async def boot(self, firmware: str = "1.0.0") -> Any:
        return await self.call(
            call.BootNotification(
                charging_station={
                    "model": "CB-Home",
                    "vendor_name": "CloudBay",
                    "firmware_version": firmware,
                    "serial_number": self.id,
                },
                reason="PowerUp",
            ),
            suppress=False,
        )

    async def status(self, evse: int, connector: int, status: str, at: str = "2026-11-25T10:00:00Z") -> Any:
        return await self.call(
            call.StatusNotification(timestamp=at, connector_status=status, evse_id=evse, connector_id=connector),
            suppress=False,
        )


@contextlib.asynccontextmanager
async def station(
    server: LiveServer | str,
    station_id: str,
    kind: type[Station] = Station,
    *,
    connect_options: dict[str, Any] | None = None,
    **attributes: Any,
) -> AsyncIterator[Any]:
    """A ``kind`` of ``Station`` connected to ``server`` (or to a URL, e.g. ``wss://``), running until the block
    ends; ``connect_options`` go to ``websockets.connect`` (``additional_headers``, ``ssl``)."""
    url = server if isinstance(server, str) else server.ws_url(station_id)
    async with connect(url, subprotocols=["ocpp2.0.1"], **(connect_options or {})) as ws:  # type: ignore[list-item]
        cp = kind(station_id, ws, response_timeout=5)
        for name, value in attributes.items():
            setattr(cp, name, value)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@contextlib.asynccontextmanager
async def raw_socket(server: LiveServer, station_id: str) -> AsyncIterator[ClientConnection]:
    async with connect(server.ws_url(station_id), subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        yield ws


async def exchange(ws: ClientConnection, frame: str, timeout: float = 5) -> list[Any]:
    await ws.send(frame)
    reply = await asyncio.wait_for(ws.recv(), timeout)
    return list(json.loads(reply))


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@contextmanager
def fresh_store(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty store of ``kind``: a SQLite file in ``directory``, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'cloudbay.sqlite3'}"
        return
    url = create_test_database()  # with the platform's tables already made (tests/pg_template.py)
    try:
        yield url
    finally:
        drop_test_database(url)


@contextmanager
def serving(store_url: str, data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    live = LiveServer(store_url, data_dir, **overrides).start()
    try:
        yield live
    finally:
        live.stop()
