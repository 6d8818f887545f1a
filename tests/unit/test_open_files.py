"""The serving node's open-file limit: raised to the hard limit, and a warning naming it when the fleet needs more."""

from __future__ import annotations

import logging
import resource
from collections.abc import Iterator

import pytest

from adapters import open_files
from adapters.settings import Settings, SettingsError


@pytest.fixture
def lowered() -> Iterator[tuple[int, int]]:
    """This process's soft limit lowered below its hard limit (restored afterwards): (lowered soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(soft, 512)
    if hard != resource.RLIM_INFINITY and low >= hard:
        pytest.skip("the hard open-file limit leaves no room to lower the soft one")
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        yield low, hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_limit_is_raised_to_the_hard_limit_and_logged(
    lowered: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    low, hard = lowered
    caplog.set_level(logging.INFO, logger="cloudbay")

    limit = open_files.raise_limit(expected_chargers=10)

    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit > low
    if hard != resource.RLIM_INFINITY:
        assert limit == hard
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert f"raised from {low} to {limit}" in caplog.text


def test_a_fleet_beyond_the_hard_limit_is_warned_about_naming_the_limit(
    lowered: tuple[int, int], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open_files, "_raise_hard", lambda hard, wanted: hard)  # a process without the privilege
    caplog.set_level(logging.INFO, logger="cloudbay")

    limit = open_files.raise_limit(expected_chargers=limit_now_plus_one())

    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"open-file limit (RLIMIT_NOFILE) is {limit}" in warning.getMessage()
    assert f"CLOUDBAY_EXPECTED_CHARGERS={limit + 1}" in warning.getMessage()
    assert "ulimit -Hn" in warning.getMessage()


def test_a_privileged_process_raises_the_hard_limit_to_what_the_fleet_needs(
    lowered: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    low, hard = lowered
    if hard == resource.RLIM_INFINITY or hard + open_files.RESERVE + 1 > open_files._kernel_ceiling(0):
        pytest.skip("no finite hard limit below the kernel's ceiling to raise")
    try:  # only a privileged process may raise its hard limit: find out without changing anything
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard + 1))
    except (ValueError, OSError):
        pytest.skip("this process may not raise its hard open-file limit")
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    caplog.set_level(logging.INFO, logger="cloudbay")
    try:
        limit = open_files.raise_limit(expected_chargers=hard + 1)

        assert limit == resource.getrlimit(resource.RLIMIT_NOFILE)[1] == hard + 1 + open_files.RESERVE
        assert f"hard limit raised from {hard} to {limit}" in caplog.text
        assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))


def test_nothing_is_said_when_the_limit_already_suffices(caplog: pytest.LogCaptureFixture) -> None:
    open_files.raise_limit(expected_chargers=1)
    caplog.set_level(logging.INFO, logger="cloudbay")

    open_files.raise_limit(expected_chargers=1)

    assert caplog.records == []


def test_the_expected_fleet_is_a_setting() -> None:
    assert Settings.from_env({}).expected_chargers == 10_000
    assert Settings.from_env({"CLOUDBAY_EXPECTED_CHARGERS": "20000"}).expected_chargers == 20_000
    for bad in ("many", "-1"):
        with pytest.raises(SettingsError, match="CLOUDBAY_EXPECTED_CHARGERS"):
            Settings.from_env({"CLOUDBAY_EXPECTED_CHARGERS": bad})


def limit_now_plus_one() -> int:
    """More chargers than the hard limit (or the kernel's ceiling) leaves room for."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return (open_files._kernel_ceiling(0) if hard == resource.RLIM_INFINITY else hard) + 1
