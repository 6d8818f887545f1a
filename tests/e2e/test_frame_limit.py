"""A frame over the limit, against `cloudbay serve` as deployed: the charger reads the close code 1009."""

from __future__ import annotations

import json
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from adapters.settings import Settings
from adapters.wiring import build_platform
from tests.e2e.servers import Served, base_env


def test_a_frame_over_the_limit_gets_1009_not_a_reset(tmp_path: Path) -> None:
    """Before: serve closed its socket right after the close frame while the charger was still sending; the
    kernel reset the connection and the charger read no close frame at all ("no close frame received")."""
    env = base_env(f"sqlite:///{tmp_path / 'cb.sqlite3'}", tmp_path / "data", CLOUDBAY_OCPP_MAX_FRAME="65536")
    with build_platform(Settings.from_env(env)) as platform:
        platform.chargers.whitelist("CB-BIG", "default")
    served = Served(env, tmp_path / "serve.log").start()
    codes = []
    try:
        for size in (70_000, 1024 * 1024, 8 * 1024 * 1024):
            frame = json.dumps([2, "big", "DataTransfer", {"vendorId": "V", "data": "x" * size}])
            with connect(f"{served.ws}/ocpp/CB-BIG", subprotocols=["ocpp2.0.1"], ping_interval=None) as ws:  # type: ignore[list-item]
                try:
                    ws.send(frame)
                    ws.recv(timeout=10)
                except ConnectionClosed as closed:
                    codes.append(closed.rcvd.code if closed.rcvd else None)
    finally:
        served.stop()
    assert codes == [1009, 1009, 1009]
