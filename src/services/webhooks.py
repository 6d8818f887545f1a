"""Webhook subscriptions: register, read, remove, and ask for a dead delivery to be sent again.

Lists (subscriptions, dead letters) are read models (``projections.webhook_outbox``); deliveries are made by
the delivery worker from that outbox. This service only records what operators decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

from cloudbay_domain.webhook import SubscriptionRemoved, WebhookError, WebhookSubscription
from services.errors import ServiceError
from services.store import EventLog


class UnknownWebhook(ServiceError):
    pass


class WebhookRefused(ServiceError):
    """The URL or the event types cannot be subscribed (the domain's reason in the message)."""


class Webhooks:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def register(
        self,
        url: str,
        events: Iterable[str],
        created_by: str,
        own_addresses: Iterable[tuple[str, int]] = (),
        refusal: Callable[[str], str | None] = lambda url: None,
    ) -> WebhookSubscription:
        """Subscribe ``url``; ``own_addresses`` are the (host, port) pairs naming this server (refused);
        ``refusal`` says why the URL's destination may not be sent to (a private address), or None."""
        try:
            subscription = WebhookSubscription.subscribe(url, events, created_by, own_addresses)
        except WebhookError as e:
            raise WebhookRefused(str(e)) from None
        reason = refusal(subscription.url)
        if reason is not None:
            raise WebhookRefused(f"the URL's destination is refused: {reason}")
        self.log.save(subscription)
        return subscription

    def get(self, subscription_id: str | UUID) -> WebhookSubscription:
        """An active subscription (a removed one is unknown to callers)."""
        subscription: WebhookSubscription = self.log.load(_id(subscription_id), _unknown(subscription_id))
        if subscription.removed:
            raise _unknown(subscription_id)
        return subscription

    def remove(self, subscription_id: str | UUID, removed_by: str) -> None:
        self._change(subscription_id, lambda s: s.remove(removed_by))

    def replay(self, subscription_id: str | UUID, delivery_id: str, requested_by: str) -> None:
        """Record that a dead delivery is to be sent again; the outbox applies it (the caller checked it is dead)."""
        self._change(subscription_id, lambda s: s.replay_delivery(delivery_id, requested_by))

    def _change(self, subscription_id: str | UUID, command: Callable[[WebhookSubscription], None]) -> None:
        def attempt(subscription: WebhookSubscription) -> None:
            try:
                command(subscription)
            except SubscriptionRemoved:
                raise _unknown(subscription_id) from None

        self.log.change(_id(subscription_id), attempt, _unknown(subscription_id))


def _unknown(subscription_id: str | UUID) -> UnknownWebhook:
    return UnknownWebhook(f"no webhook {subscription_id}")


def _id(subscription_id: str | UUID) -> UUID:
    if isinstance(subscription_id, UUID):
        return subscription_id
    try:
        return UUID(subscription_id)
    except ValueError:
        raise _unknown(subscription_id) from None
