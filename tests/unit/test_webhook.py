"""Webhooks without I/O: the URL rules, the event types, the signature, the derived secrets, the aggregate,
the service on the in-memory store, the outbox projection on an in-memory read model, the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from adapters.settings import StoreSettings
from adapters.webhooks.delivery import DeliveryPolicy, signed_headers
from cloudbay_domain.charger import Charger
from cloudbay_domain.webhook import (
    EVENT_TYPES,
    MAX_URL_LENGTH,
    InvalidWebhookUrl,
    SubscriptionRemoved,
    UnknownEventType,
    WebhookSubscription,
    check_event_types,
    check_url,
    derive_secret,
    host_key,
    sign,
    signature_matches,
)
from projections.db import ReadModelDB
from projections.follower import catch_up, prepare, reset
from projections.webhook_outbox import WebhookOutbox, WebhookOutboxProjection
from services.platform import Platform
from services.webhooks import UnknownWebhook, WebhookRefused

OWN = [("cloudbay.example.com", 8080), ("127.0.0.1", 8080), ("localhost", 8080)]


# --- the URL rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cloudbay",
        "http://127.0.0.1:9000/receiver?x=1",
        "http://localhost:8081/",  # this machine, another port: another program
        "https://cloudbay.example.com/hooks",  # this host name on another port (443)
        "http://[2001:db8::1]:8080/",
    ],
)
def test_http_and_https_urls_with_a_host_are_accepted(url: str) -> None:
    assert check_url(url, OWN) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/file", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://example.com:99999/", "not a URL"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\n", "spaces"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, "longer than"),
    ],
)
def test_other_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match=why):
        check_url(url, OWN)


@pytest.mark.parametrize(
    "url",
    [
        "http://cloudbay.example.com:8080/api",
        "http://CloudBay.Example.COM.:8080/",
        "http://127.0.0.1:8080/",
        "http://127.0.0.2:8080/",
        "http://127.1:8080/",
        "http://2130706433:8080/",
        "http://0x7f.0.0.1:8080/",
        "http://0.0.0.0:8080/",
        "http://[::1]:8080/",
        "http://[::]:8080/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://localhost:8080/",
        "http://api.localhost:8080/",
    ],
)
def test_a_url_that_points_at_this_server_is_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match="this server"):
        check_url(url, OWN)


def test_the_default_port_of_the_scheme_counts() -> None:
    with pytest.raises(InvalidWebhookUrl, match="this server"):
        check_url("https://cloudbay.example.com/hooks", [("cloudbay.example.com", 443)])
    assert host_key("[::1]", 80) == host_key("localhost", 80) == "local:80"


def test_event_types_are_known_deduplicated_and_at_least_one() -> None:
    assert check_event_types(["charger.offline", "transaction.ended", "charger.offline"]) == [
        "charger.offline",
        "transaction.ended",
    ]
    with pytest.raises(UnknownEventType, match="transaction.paused"):
        check_event_types(["transaction.ended", "transaction.paused"])
    with pytest.raises(UnknownEventType, match="at least one"):
        check_event_types([])


# --- signature and secrets -------------------------------------------------------------------


def test_the_signature_is_the_hmac_sha256_of_timestamp_dot_body() -> None:
    body, timestamp, secret = b'{"type":"charger.online"}', 1764547200, "whsec_test"
    expected = hmac.new(b"whsec_test", b'1764547200.{"type":"charger.online"}', hashlib.sha256).hexdigest()

    assert sign(secret, timestamp, body) == f"sha256={expected}"
    assert signature_matches(secret, timestamp, body, f"sha256={expected}")
    assert not signature_matches(secret, timestamp + 1, body, f"sha256={expected}")
    assert not signature_matches(secret, timestamp, body + b" ", f"sha256={expected}")
    assert not signature_matches("whsec_other", timestamp, body, f"sha256={expected}")


def test_the_delivery_headers_carry_the_event_the_id_the_timestamp_and_the_signature() -> None:
    row = {"event_type": "transaction.ended", "delivery_id": "d-1"}
    headers = signed_headers("whsec_s", row, b"{}", 1700000000)

    assert headers["Content-Type"] == "application/json"
    assert headers["X-CloudBay-Event"] == "transaction.ended"
    assert headers["X-CloudBay-Delivery"] == "d-1"
    assert headers["X-CloudBay-Timestamp"] == "1700000000"
    assert headers["X-CloudBay-Signature"] == sign("whsec_s", 1700000000, b"{}")


def test_secrets_are_derived_from_the_master_key_and_the_subscription_id() -> None:
    key, a, b = b"k" * 32, uuid4(), uuid4()

    assert derive_secret(key, a) == derive_secret(key, a)
    assert derive_secret(key, a) != derive_secret(key, b)
    assert derive_secret(key, a) != derive_secret(b"j" * 32, a)
    assert derive_secret(key, a).startswith("whsec_") and len(derive_secret(key, a)) == 6 + 64


# --- the aggregate -----------------------------------------------------------------------------


def test_subscribing_records_the_url_and_events_and_nothing_secret() -> None:
    subscription = WebhookSubscription.subscribe(" https://example.com/h ", ["charger.online"], "ops@example.com")

    (created,) = subscription.collect_events()
    assert isinstance(created, WebhookSubscription.Created)
    assert (created.url, created.events, created.created_by) == (
        "https://example.com/h",
        ["charger.online"],
        "ops@example.com",
    )
    assert not any("secret" in f.name for f in fields(created))


def test_a_removed_subscription_cannot_be_removed_or_replayed() -> None:
    subscription = WebhookSubscription.subscribe("https://example.com/h", EVENT_TYPES, "ops@example.com")
    subscription.remove("ops@example.com")

    with pytest.raises(SubscriptionRemoved):
        subscription.remove("ops@example.com")
    with pytest.raises(SubscriptionRemoved):
        subscription.replay_delivery("d-1", "ops@example.com")


def test_the_service_registers_finds_and_removes() -> None:
    platform = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    hooks = platform.webhooks
    subscription = hooks.register("https://example.com/h", ["charger.offline"], "ops@example.com")

    assert hooks.get(str(subscription.id)).url == "https://example.com/h"
    hooks.remove(subscription.id, "ops@example.com")
    for missing in (str(subscription.id), str(uuid4()), "not-a-uuid"):
        with pytest.raises(UnknownWebhook):
            hooks.get(missing)
    with pytest.raises(UnknownWebhook):
        hooks.remove(subscription.id, "ops@example.com")
    with pytest.raises(WebhookRefused, match="this server"):
        hooks.register("http://localhost:8080/", ["charger.offline"], "ops@example.com", [("localhost", 8080)])


# --- the outbox projection ---------------------------------------------------------------------


def test_the_outbox_enqueues_once_per_matching_subscription_and_a_rebuild_resends_nothing() -> None:
    platform = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    db, projection = ReadModelDB(StoreSettings("memory://")), WebhookOutboxProjection()
    prepare(db, projection)
    online = platform.webhooks.register("https://a.example.com/", ["charger.online"], "ops@example.com")
    ended = platform.webhooks.register("https://b.example.com/", ["transaction.ended"], "ops@example.com")
    charger = Charger.whitelist("CB-1", "default")
    charger.connect("session-1", "node-1")
    platform.log.save(charger)
    while catch_up(platform.log, db, projection):
        pass
    outbox = WebhookOutbox(db)

    (row,) = outbox.deliveries(str(online.id))
    assert outbox.deliveries(str(ended.id)) == []
    assert (row["event_type"], row["status"], row["attempts"]) == ("charger.online", "pending", 0)
    assert '"station_id": "CB-1"' in row["payload"]

    outbox.record_delivered(row["delivery_id"], 1, datetime.now(UTC))
    reset(db, projection)  # `cloudbay replay`
    while catch_up(platform.log, db, projection):
        pass
    assert [(r["delivery_id"], r["status"]) for r in outbox.deliveries(str(online.id))] == [
        (row["delivery_id"], "delivered")
    ]
    assert outbox.claim_due(datetime.now(UTC) + timedelta(days=1), 10) == []


def test_a_claimed_row_is_leased_and_a_failed_one_dies_after_the_last_attempt() -> None:
    platform = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    db, projection = ReadModelDB(StoreSettings("memory://")), WebhookOutboxProjection()
    prepare(db, projection)
    hook = platform.webhooks.register("https://a.example.com/", ["charger.online"], "ops@example.com")
    charger = Charger.whitelist("CB-1", "default")
    charger.connect("session-1", "node-1")
    platform.log.save(charger)
    catch_up(platform.log, db, projection)
    outbox, now = WebhookOutbox(db), datetime.now(UTC)

    (claimed,) = outbox.claim_due(now, lease_seconds=30)
    assert outbox.claim_due(now + timedelta(seconds=29), 30) == []  # leased
    outbox.record_failed(claimed["delivery_id"], 1, now, "HTTP 500", retry_at=now + timedelta(seconds=1))
    (again,) = outbox.claim_due(now + timedelta(seconds=1), 30)
    outbox.record_failed(again["delivery_id"], 2, now, "ReadTimeout", retry_at=None)

    (dead,) = outbox.deliveries(str(hook.id), "dead")
    assert (dead["attempts"], dead["last_error"]) == (2, "ReadTimeout")
    assert outbox.claim_due(now + timedelta(days=1), 30) == []


def test_the_retry_delay_doubles_and_is_capped() -> None:
    policy = DeliveryPolicy(backoff_seconds=1.0, max_backoff_seconds=10.0)

    assert [policy.retry_delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.lease_seconds > 3 * policy.timeout_seconds
