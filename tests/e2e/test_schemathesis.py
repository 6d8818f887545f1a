"""The API fuzzed against its own OpenAPI document (schemathesis), on a live server with an operator token.

Bounded and deterministic: ``MAX_EXAMPLES`` positive examples per operation, derandomized, no shrinking, no
example database. Every operation is run, then every failure is reported together, each with the request that
reproduces it (schemathesis prints it as a curl command).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.pki.authority import FileAuthority
from adapters.pki.settings import CaSettings
from tests.support import LiveServer

MAX_EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SKIPPED: set[tuple[str, str]] = set()  # (method, path) never fuzzed; none today
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing example is reported as is
    suppress_health_check=list(HealthCheck),
)
BUDGET_S = 60


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[LiveServer]:
    ca = CaSettings(directory=tmp_path / "data" / "ca", passphrase="fuzzed")
    FileAuthority(ca).init()  # with its CA, as deployed: the CA's documents answer 200
    live = LiveServer(f"sqlite:///{tmp_path / 'cloudbay.sqlite3'}", tmp_path / "data", ca=ca).start()
    try:
        for station_id in ("CB-S1", "CB-S2"):
            live.whitelist(station_id)
        yield live
    finally:
        live.stop()


def fuzz(operation: schemathesis.APIOperation, base_url: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @SETTINGS
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

    run()


@pytest.mark.slow
def test_the_api_conforms_to_its_document(fuzzed: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {fuzzed.token()}"}
    schema = schemathesis.openapi.from_url(f"{fuzzed.base_url}/openapi.json")
    started = time.monotonic()
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here: a spec bug
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        ran += 1
        try:
            fuzz(operation, fuzzed.base_url, headers)
        except (Exception, BaseExceptionGroup) as failure:  # one operation's failure must not hide the others'
            failures.append(f"{operation.method.upper()} {operation.path}:\n{failure}")
    elapsed = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    assert ran >= 25
    assert elapsed < BUDGET_S, f"schemathesis took {elapsed:.1f} s for {ran} operations"
