"""The bodies the REST API answers, as pydantic models: handlers shape their answers through them and the
OpenAPI document describes them from the same classes (``adapters.http.openapi``).

``Body.dump`` keeps the keys it was given (``exclude_unset``): an optional key a handler leaves out stays out,
so the models document today's answers without changing them. Unknown keys are refused (a 500, caught by the
tests and by schemathesis), so a new column cannot slip out undocumented.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @classmethod
    def shape(cls, value: Any) -> dict[str, Any]:
        """``value`` (a dict of the handler's) validated against this model and dumped as the answer body."""
        return cls.model_validate(value).dump()


class Link(Body):
    href: str = Field(examples=["/api/v1/chargers/CB-0001"])


Links = Annotated[dict[str, Link], Field(alias="_links", description="HAL links to related resources")]


class ProblemError(Body):
    field: str
    message: str


class BadRow(Body):
    row: int = Field(description="the device's position in the batch from 1 (0: the batch itself)")
    message: str
    serial_number: str | None = None


class Problem(Body):
    """RFC 9457 problem details, ``application/problem+json``: every error of the API."""

    type: str = Field(default="about:blank")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    reason: str | None = Field(default=None, description="why a charger call failed: Offline, Timeout, Rejected, ...")
    errors: list[ProblemError] | None = Field(default=None, description="on 422: each field that does not match")
    state: str | None = Field(default=None, description="a charger's pipeline state, when it decides the refusal")
    rows: list[BadRow] | None = Field(default=None, description="a refused batch's bad rows (the first 100)")
    bad_rows: int | None = Field(default=None, description="how many problems the refused batch has in all")
    addresses_left: int | None = Field(default=None, description="MAC addresses left, when too few for a batch")
    failed_attempts: int | None = Field(default=None, description="wrong box codes in a row")


class Connector(Body):
    evse_id: int
    connector_id: int
    status: str = Field(examples=["Available"])
    reported_at: Timestamp
    before_boot: bool


class Charger(Body):
    station_id: str = Field(examples=["CB-0001"])
    charger_id: str
    hardware_family: str
    presence: Literal["online", "offline"]
    node: str | None
    whitelisted_at: Timestamp
    last_seen: Timestamp | None
    last_boot_at: Timestamp | None
    boot_reason: str | None
    boot_count: int
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    periodic_event_reports: int
    data_transfers: int
    version: int = Field(description="of the Charger aggregate the read model reflects (the ETag)")
    connectors: list[Connector]
    state: str = Field(
        examples=["manufactured"],
        description="the production pipeline: manufactured, enrolled, ready, released, scrapped; whitelisted: by hand",
    )
    mac_address: str | None = Field(description="assigned at import; none for a charger whitelisted by hand")
    batch_id: str | None = Field(description="the production batch it was made in")
    links: Links


class ChargerPage(Body):
    items: list[Charger]
    links: Links


class ChargerEvent(Body):
    version: int
    type: str = Field(examples=["Charger.Booted"])
    timestamp: Timestamp
    data: dict[str, Any]


class ChargerEvents(Body):
    station_id: str
    items: list[ChargerEvent]
    links: Links


class TransactionCost(Body):
    currency: str
    amount: str = Field(description="decimal, rounded half to even to cents")
    priced_energy_kwh: str = Field(description="the energy priced: what was charged before any tariff is not")


class Transaction(Body):
    id: str
    station_id: str
    transaction_id: str
    evse_id: int | None
    connector_id: int | None
    user: str | None
    id_token: str | None
    attribution: str | None = Field(description="card, guest, app, default_account or unknown")
    authorization: str | None
    status: Literal["active", "ended"]
    started_at: Timestamp
    started_seen: bool
    ended_at: Timestamp | None
    stopped_reason: str | None
    last_event_at: Timestamp | None
    duration_s: float
    charging_s: float
    idle_s: float
    energy_wh: float
    max_power_w: float | None
    last_power_w: float | None
    register_resets: int
    missing_seq_nos: list[list[int]]  # gaps in seqNo: [first, last] ranges, the lowest 100
    charging_state: str | None
    cost: TransactionCost | None = Field(
        default=None, description="at the charger's tariff in force in each interval charged (single reads only)"
    )
    version: int
    links: Links


class TransactionPage(Body):
    items: list[Transaction]
    links: Links


class EnergyItem(Body):
    period: str = Field(examples=["2026-11-25"])
    energy_wh: float
    transactions: int
    cost: str | None = Field(
        default=None,
        examples=["4.23"],
        description="the sum of the period's transactions' costs (decimal); null without a tariff, or in"
        " several currencies (see costs)",
    )
    currency: str | None = Field(default=None, examples=["CHF"])
    costs: dict[str, str] = Field(default_factory=dict, description="the cost per currency (usually one)")


class ChargerEnergy(Body):
    station_id: str
    period: Literal["day", "month"]
    items: list[EnergyItem]
    links: Links


class UserEnergy(Body):
    user: str
    period: Literal["day", "month"]
    items: list[EnergyItem]
    links: Links


class Card(Body):
    id_token: str = Field(examples=["04A1B2C3"])
    type: str
    kind: Literal["rfid", "guest"]
    user: str
    label: str
    status: Literal["active", "blocked", "removed"]
    authorization: str = Field(description="what chargers are told: Accepted, Blocked or Invalid")
    links: Links


class CardRow(Body):
    id_token: str
    type: str
    kind: Literal["rfid", "guest"]
    user: str
    label: str
    status: Literal["active", "blocked", "removed"]
    registered_at: Timestamp
    changed_at: Timestamp
    links: Links


class CardPage(Body):
    items: list[CardRow]
    links: Links


class StartAnswer(Body):
    station_id: str
    remote_start_id: int
    status: str = Field(examples=["Accepted"])
    transaction_id: str | None
    links: Links


class StopAnswer(Body):
    station_id: str
    transaction_id: str
    status: str = Field(examples=["Accepted"])
    links: Links


class SettingsAnswer(Body):
    station_id: str
    rfid_required: bool
    local_list_version: int
    version: int = Field(description="of the Charger aggregate after the change (the ETag)")
    applied_on_charger: str = Field(description="the charger's answer (Accepted, Rejected, ...), Offline or Timeout")
    links: Links


class ResetAnswer(Body):
    station_id: str
    type: Literal["Immediate", "OnIdle"]
    evse_id: int | None
    status: str = Field(examples=["Accepted", "Scheduled"])
    links: Links


class ReadModelStatus(Body):
    position: int | None
    lag: int | None = Field(default=None, description="events stored but not yet applied to this read model")
    failure: str | None


class Health(Body):
    status: Literal["ok", "unavailable", "ready", "not ready"]
    store: Literal["up", "down"] | None = Field(default=None, description="readiness: did the stores answer")
    projector: Literal["inline", "up", "down", "elsewhere"] | None = Field(
        default=None, description="readiness: who keeps the read models, and whether serve's projector child runs"
    )
    event_store_position: int | None = None
    read_models: dict[str, ReadModelStatus] | None = None
    error: str | None = Field(default=None, description="why the event store or the read-model store failed")


class TokenAnswer(Body):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthErrorBody(Body):
    """RFC 6749 section 5.2 error answer of the token endpoint."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(examples=["invalid_client"])
    error_description: str | None = None


class Loose(Body):
    """A document the API publishes in a standard shape of its own (JWKS, OpenID discovery, OpenAPI)."""

    model_config = ConfigDict(extra="allow")


class Index(Body):
    links: Links


class TokenForm(Body):
    """The client-credentials grant (RFC 6749 section 4.4), form-encoded; the client may authenticate with HTTP
    Basic instead of ``client_id`` and ``client_secret``."""

    model_config = ConfigDict(extra="allow")
    grant_type: Literal["client_credentials"]
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
