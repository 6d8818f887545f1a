"""Webhook subscriptions: an operator's endpoint that is sent chosen platform events, signed.

The signing secret is never stored, in an event or anywhere else: each subscription's secret is derived from a
master key (kept beside the token signing key, outside the event log) and the subscription id with HMAC-SHA256
(``derive_secret``). The event log, kept forever and read by auditors, holds only the URL and the event types;
whoever holds the master key can re-derive a subscription's secret, whoever holds the log cannot. A secret is
rotated by registering a new subscription (a new id) and removing the old one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.destinations import is_local_name, literal_address

MAX_URL_LENGTH = 2048
TRANSACTION_STARTED = "transaction.started"
TRANSACTION_UPDATED = "transaction.updated"
TRANSACTION_ENDED = "transaction.ended"
CHARGER_ONLINE = "charger.online"
CHARGER_OFFLINE = "charger.offline"
CHARGER_BOOTED = "charger.booted"
CHARGER_STATUS_CHANGED = "charger.status_changed"
EVENT_TYPES = (
    TRANSACTION_STARTED,
    TRANSACTION_UPDATED,
    TRANSACTION_ENDED,
    CHARGER_ONLINE,
    CHARGER_OFFLINE,
    CHARGER_BOOTED,
    CHARGER_STATUS_CHANGED,
)
DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookError(Exception):
    pass


class InvalidWebhookUrl(WebhookError):
    pass


class UnknownEventType(WebhookError):
    pass


class SubscriptionRemoved(WebhookError):
    pass


def host_key(host: str, port: int) -> str:
    """One spelling of ``host:port`` for comparing addresses: lower case, no trailing dot, IPv6 without
    brackets, IPs normalised (``127.1``, ``2130706433`` and ``0x7f.0.0.1`` are all 127.0.0.1 to the C resolver),
    and every address that reaches this machine itself (loopback, 0.0.0.0, ::, IPv4-mapped ones) as ``local``."""
    address = literal_address(host)
    if address is not None:
        host = "local" if address.is_loopback or address.is_unspecified else str(address)
    elif is_local_name(host):
        host = "local"
    else:
        host = host.strip().strip("[]").rstrip(".").lower()
    return f"{host}:{port}"


def check_url(url: str, own_addresses: Iterable[tuple[str, int]] = ()) -> str:
    """The URL, if it may receive webhooks: http or https, a host, no credentials (the URL is stored in the
    event log forever), at most ``MAX_URL_LENGTH`` characters, and not one of ``own_addresses`` (the (host, port)
    pairs naming this server: a server posting to itself loops)."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidWebhookUrl("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidWebhookUrl(f"not a URL: {e}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise InvalidWebhookUrl("the URL must be http:// or https://")
    if not parts.hostname:
        raise InvalidWebhookUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("the URL must not carry credentials")
    own = {host_key(host, own_port) for host, own_port in own_addresses}
    if host_key(parts.hostname, port or DEFAULT_PORTS[parts.scheme]) in own:
        raise InvalidWebhookUrl("the URL points at this server")
    return url


def check_event_types(events: Iterable[str]) -> list[str]:
    """The event types, de-duplicated in the order given; at least one, each a known one."""
    chosen = list(dict.fromkeys(events))
    if not chosen:
        raise UnknownEventType("choose at least one event type")
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise UnknownEventType(f"unknown event types {unknown}; known: {list(EVENT_TYPES)}")
    return chosen


def derive_secret(master_key: bytes, subscription_id: UUID) -> str:
    """The subscription's signing secret: HMAC-SHA256 of its id under the master key (nothing stored)."""
    digest = hmac.new(master_key, b"cloudbay:webhook:" + subscription_id.bytes, hashlib.sha256).hexdigest()
    return f"whsec_{digest}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-CloudBay-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSubscription(Aggregate):
    """An endpoint subscribed to some event types. Removed subscriptions stay in the log, inactive."""

    class Created(Aggregate.Created):
        url: str
        events: list[str]
        created_by: str

    @event(Created)
    def __init__(self, url: str, events: list[str], created_by: str) -> None:
        self.url = url
        self.events = events
        self.created_by = created_by
        self.removed = False

    @classmethod
    def subscribe(
        cls, url: str, events: Iterable[str], created_by: str, own_addresses: Iterable[tuple[str, int]] = ()
    ) -> WebhookSubscription:
        return cls(url=check_url(url.strip(), own_addresses), events=check_event_types(events), created_by=created_by)

    def check_active(self) -> None:
        if self.removed:
            raise SubscriptionRemoved(f"webhook {self.id} was removed")

    class Removed(Aggregate.Event):
        removed_by: str

    def remove(self, removed_by: str) -> None:
        self.check_active()
        self._removed(removed_by)

    @event(Removed)
    def _removed(self, removed_by: str) -> None:
        self.removed = True

    class DeliveryReplayRequested(Aggregate.Event):
        """An operator asked for a dead delivery to be sent again (from the first attempt)."""

        delivery_id: str
        requested_by: str

    def replay_delivery(self, delivery_id: str, requested_by: str) -> None:
        self.check_active()
        self._replay_requested(delivery_id, requested_by)

    @event(DeliveryReplayRequested)
    def _replay_requested(self, delivery_id: str, requested_by: str) -> None:
        pass
