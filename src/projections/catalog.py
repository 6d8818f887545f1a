"""Every read model the platform keeps, built for one event log."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application

from projections.energy import EnergyProjection
from projections.firmware_images import FirmwareImagesProjection
from projections.fleet import FleetProjection
from projections.follower import Projection
from projections.id_tokens import IdTokensProjection
from projections.members import MembersProjection
from projections.production import ProductionProjection
from projections.rollouts import RolloutsProjection
from projections.security_events import SecurityEventsProjection
from projections.transaction_states import Loader
from projections.transactions import TransactionsProjection
from projections.users import UsersProjection
from projections.webhook_outbox import WebhookOutboxProjection


def all_projections(app: Application[UUID]) -> list[Projection]:
    """The projections, in the order they are kept; ``app`` is the event log they follow (and the store the
    transaction projections load an aggregate from when their own copy is not at the version before an event)."""
    load: Loader = lambda aggregate_id, version: app.repository.get(aggregate_id, version=version)  # noqa: E731
    return [
        FleetProjection(),
        IdTokensProjection(),
        TransactionsProjection(load),
        EnergyProjection(load),
        UsersProjection(),
        WebhookOutboxProjection(),
        ProductionProjection(),
        SecurityEventsProjection(),
        MembersProjection(),
        RolloutsProjection(),
        FirmwareImagesProjection(),
    ]
