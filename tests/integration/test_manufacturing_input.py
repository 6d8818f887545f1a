"""Bad batches over real HTTP, on SQLite and PostgreSQL: refused whole, every bad row listed, nothing written; a
huge body refused before it is read; the CLI import; an older fleet read model given the new columns."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from adapters.settings import StoreSettings
from projections.db import ReadModelDB
from projections.fleet import FleetProjection
from tests.cli_support import cloudbay
from tests.support import LiveServer

BATCHES = "/api/v1/production-batches"
PARAMS = {"hardware_family": "home", "model": "CB-Home"}
CSV = {"content-type": "text/csv"}


BAD_FILES = [
    (b"serial_number\nA-1\nA-2\nA-1\n", [(3, "duplicate serial number (first in row 1)")]),
    (b'serial_number\nA-1\n""\nA-3\n', [(2, "the serial number is empty")]),
    (b"serial_number\n" + b"X" * 21 + b"\n", [(1, "the serial number is longer than 20 characters")]),
    (b"serial_number\nA 1\nA/2\nok\nA#4\n", [(1, "character"), (2, "character"), (4, "character")]),
    (b"serial_number,colour\nA-1,red\n", [(0, "unknown column 'colour'")]),
    (b"model\nM\n", [(0, "no serial_number column")]),
    (b"serial_number\nA-1,extra\n", [(1, "2 fields where the header has 1")]),
    (b"serial_number\nA-1\nB-\xff\xfe\nC-3\n", [(2, "not UTF-8")]),
    (b"", [(0, "no header")]),
]


@pytest.mark.parametrize(("body", "expected"), BAD_FILES)
def test_bad_files_are_refused_whole_listing_each_bad_row(
    shared_line: LiveServer, body: bytes, expected: list[tuple[int, str]]
) -> None:
    line = shared_line
    with line.http() as http:
        head = line.head()
        answer = http.post(BATCHES, params=PARAMS, content=body, headers=CSV)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    rows = answer.json()["rows"]
    assert [(r["row"], any(text in r["message"] for _, text in expected)) for r in rows] == [
        (n, True) for n, _ in expected
    ]
    assert line.head() == head


def test_at_most_a_hundred_rows_are_listed_and_batch_fields_are_checked(line: LiveServer) -> None:
    with line.http() as http:
        head = line.head()
        body = b"serial_number\n" + b"bad serial\n" * 250
        many = http.post(BATCHES, params=PARAMS, content=body, headers=CSV).json()
        assert len(many["rows"]) == 100 and many["bad_rows"] == 250 + 249
        no_model = http.post(BATCHES, params={"hardware_family": "home"}, content=b"serial_number\nA\n", headers=CSV)
        assert no_model.status_code == 422 and no_model.json()["rows"][0]["row"] == 0
        bad_json = http.post(BATCHES, json={"hardware_family": "h", "model": "m", "devices": [{"serial_number": ""}]})
        assert bad_json.status_code == 422 and bad_json.json()["rows"][0]["row"] == 1
        assert http.post(BATCHES, json={"hardware_family": "h", "devices": []}).status_code == 422
        assert http.post(BATCHES, content=b"{nope", headers={"content-type": "application/json"}).status_code == 400
        assert line.head() == head


def _raw_post(server: LiveServer, headers: str, body: bytes = b"", chunk: int = 1 << 20, total: int = 0) -> bytes:
    """POST by hand on a socket: headers, then ``body``, then ``total`` bytes in chunks; the answer's first bytes."""
    token = server.token()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        head = f"POST {BATCHES}?hardware_family=h&model=m HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
        sock.sendall((head + "Content-Type: text/csv\r\n" + headers + "\r\n").encode() + body)
        sent = 0
        try:
            while sent < total:
                piece = b"serial_number\n" * (chunk // 14)
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
        except OSError:
            pass  # the server answered and closed: what we want to read
        return sock.recv(4096)


def test_a_50_mb_body_is_refused_before_it_is_read(line: LiveServer) -> None:
    line.token()  # the operator is registered first
    head = line.head()
    declared = _raw_post(line, f"Content-Length: {50 * 1024 * 1024}\r\n")  # no byte of the body is sent
    assert declared.startswith(b"HTTP/1.1 413")
    streamed = _raw_post(line, "Transfer-Encoding: chunked\r\n", total=12 * 1024 * 1024)  # no length declared
    assert streamed.startswith(b"HTTP/1.1 413")
    assert line.head() == head


def test_cli_imports_a_batch_and_lists_chargers_by_state(store_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDBAY_DATABASE_URL": store_url, "CLOUDBAY_DATA_DIR": str(tmp_path / "data")}
    env["CLOUDBAY_MAC_BLOCK"] = "70:B3:D5:1/28"
    good, bad = tmp_path / "batch.csv", tmp_path / "bad.csv"
    good.write_text("serial_number,model\nCLI-1,\nCLI-2,CB-Pro\n")
    bad.write_text("serial_number\nCLI-3\nCLI 4\nCLI-3\n")
    done = cloudbay(env, "batches", "import", str(good), "--family", "home", "--model", "CB-Home", "--batch-id", "C1")
    assert done.returncode == 0 and "imported batch C1: 2 devices" in done.stdout, done.stderr
    again = cloudbay(env, "batches", "import", str(good), "--family", "home", "--model", "CB-Home", "--batch-id", "C1")
    assert again.returncode == 0 and "nothing written" in again.stdout
    refused = cloudbay(env, "batches", "import", str(bad), "--family", "home", "--model", "CB-Home")
    assert refused.returncode == 1 and "row 2:" in refused.stderr and "row 3: duplicate" in refused.stderr
    assert cloudbay(env, "replay").returncode == 0
    listed = cloudbay(env, "chargers", "list", "--state", "manufactured").stdout.splitlines()
    assert [line.split("\t")[0::4] for line in listed] == [["CLI-1", "manufactured"], ["CLI-2", "manufactured"]]
    assert listed[0].endswith("70:B3:D5:10:00:00")
    assert "C1\thome\tCB-Home\t2\tmanufactured=2" in cloudbay(env, "batches", "list").stdout
    assert cloudbay(env, "chargers", "list", "--state", "nope").returncode == 2
    box = cloudbay(env, "chargers", "label", "CLI-1", "--label", "box").stdout.strip()
    pair = cloudbay(env, "chargers", "label", "CLI-1", "--label", "charger").stdout.strip()
    assert box.startswith("cloudbay://box?station=CLI-1&code=") and pair.startswith("cloudbay://pair?station=CLI-1&")
    assert cloudbay(env, "chargers", "label", "CLI-404").returncode == 1
    assert "k2" in cloudbay(env, "manufacturing-key", "rotate").stdout
    assert cloudbay(env, "manufacturing-key", "list").stdout.split() == ["k1", "k2", "(current)"]
    assert (tmp_path / "data" / "manufacturing-key").stat().st_mode & 0o777 == 0o600


def test_an_older_fleet_table_gets_the_new_columns(store_url: str) -> None:
    db = ReadModelDB(StoreSettings(store_url))
    try:
        with db.transaction() as tx:  # rm_chargers as the first version made it
            tx.execute("DROP TABLE IF EXISTS rm_chargers")  # a test database comes with today's tables
            tx.execute(
                "CREATE TABLE rm_chargers (station_id TEXT PRIMARY KEY, charger_id TEXT NOT NULL UNIQUE,"
                " hardware_family TEXT NOT NULL, presence TEXT NOT NULL, node TEXT, whitelisted_at TEXT NOT NULL,"
                " last_seen TEXT, last_boot_at TEXT, boot_reason TEXT, boot_count INTEGER NOT NULL DEFAULT 0,"
                " vendor TEXT, model TEXT, serial_number TEXT, firmware_version TEXT,"
                " periodic_event_reports INTEGER NOT NULL DEFAULT 0, data_transfers INTEGER NOT NULL DEFAULT 0,"
                " version INTEGER NOT NULL)"
            )
            tx.execute(
                "INSERT INTO rm_chargers (station_id, charger_id, hardware_family, presence, whitelisted_at, version)"
                " VALUES ('OLD-1', 'x', 'f', 'offline', '2026-01-01', 1)"
            )
        for _ in range(2):  # and again: nothing to add the second time
            with db.transaction() as tx:
                FleetProjection().create_tables(tx)
        row = db.query("SELECT state, mac_address, batch_id FROM rm_chargers WHERE station_id = 'OLD-1'")
        assert row == [{"state": "whitelisted", "mac_address": None, "batch_id": None}]
    finally:
        db.close()
