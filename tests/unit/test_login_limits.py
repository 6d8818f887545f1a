"""Failed logins per station id: blocked after ten in a minute, recorded bounded, forgotten on success; proved
passwords remembered; the TLS settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.ocpp.login_limits import BLOCK, MAX_FAILURES, RECORDED, WINDOW, LoginLimits
from adapters.settings import Settings, SettingsError
from adapters.station_passwords import PasswordChecker, hash_password

AT = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_failures_is_a_handful_of_events() -> None:
    clock = Clock()
    limits = LoginLimits(clock)
    recorded = [n for _ in range(MAX_FAILURES) for n in limits.failed("CB-1", "InvalidBasicAuth", AT, "wrong")]
    assert [(n.kind, n.count) for n in recorded] == [("InvalidBasicAuth", 1)] * RECORDED + [
        ("RepeatedFailedLogins", MAX_FAILURES - RECORDED)
    ]
    assert 0 < limits.blocked("CB-1", AT, "InvalidBasicAuth") <= BLOCK
    for _ in range(1000):  # blocked attempts are counted, not recorded
        limits.blocked("CB-1", AT, "InvalidBasicAuth")
    assert limits.blocked("CB-2", AT, "InvalidBasicAuth") == 0  # another station id is not affected
    clock.now += BLOCK + 1
    assert limits.blocked("CB-1", AT, "InvalidBasicAuth") == 0
    after = limits.failed("CB-1", "DowngradeAttempt", AT, "ws://")
    assert [(n.kind, n.count) for n in after] == [("RepeatedFailedLogins", 1001), ("DowngradeAttempt", 1)]


def test_failures_spread_over_time_are_not_blocked_and_success_forgets() -> None:
    clock = Clock()
    limits = LoginLimits(clock)
    for _ in range(3 * MAX_FAILURES):
        limits.failed("CB-1", "InvalidBasicAuth", AT, "wrong")
        clock.now += WINDOW / 3
    assert limits.blocked("CB-1", AT, "InvalidBasicAuth") == 0
    assert limits.succeeded("CB-1", AT) == []  # nothing was only counted
    assert limits.succeeded("CB-1", AT) == []


def test_tls_settings_come_together() -> None:
    env = {"CLOUDBAY_TLS_CERT": "c.pem", "CLOUDBAY_TLS_KEY": "k.pem", "CLOUDBAY_TLS_PORT": "9443"}
    chosen = Settings.from_env(env)
    assert str(chosen.tls_cert) == "c.pem" and chosen.tls_port == 9443 and chosen.tls_client_ca is None
    assert Settings.from_env({}).tls_cert is None and Settings.from_env({}).tls_port == 8443
    assert Settings.from_env({"CLOUDBAY_TRUSTED_PROXIES": "10.0.0.1, ::1"}).trusted_proxies == ("10.0.0.1", "::1")
    bad_env = ({"CLOUDBAY_TLS_CERT": "c.pem"}, {**env, "CLOUDBAY_TLS_PORT": "0"}, {"CLOUDBAY_TLS_PORT": "x"})
    for bad in (*bad_env, {"CLOUDBAY_TRUSTED_PROXIES": "proxy.example"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)


def test_a_proved_password_is_remembered_until_the_hash_changes() -> None:
    checker = PasswordChecker()
    first, second = hash_password("first-password-0001"), hash_password("second-password-002")

    async def scenario() -> list[bool]:
        return [
            await checker.check("CB-1", first, "first-password-0001"),
            await checker.check("CB-1", first, "first-password-0001"),  # remembered: no argon2 this time
            await checker.check("CB-1", first, "wrong-password-0001"),
            await checker.check("CB-1", second, "first-password-0001"),  # the password was changed
            await checker.check("CB-2", first, "first-password-0001"),  # another station proves it itself
        ]

    assert asyncio.run(scenario()) == [True, True, False, False, True]
