"""Charging: transactions, meter values, id tokens and the local authorization list.

A mixin of the ``CloudBay`` application (same event log); kept apart so each module holds one idea.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from cloudbay_domain.charger import Charger
from cloudbay_domain.id_token import IdToken, IdTokenError, LocalAuthList, TokenKind, normalise_token
from cloudbay_domain.metering import Sample
from cloudbay_domain.transaction import Attribution, EventType, Transaction
from cloudbay_domain.user import normalise_email
from services.errors import ConcurrentUpdate, ServiceError
from services.group_commit import GroupCommitter

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from eventsourcing.application import Repository

MAX_RETRIES = 8
UNDECIDED = (None, Attribution.DEFAULT_ACCOUNT, Attribution.UNKNOWN)  # attributions later evidence may replace


class ChargingError(ServiceError):
    pass


class UnknownIdToken(ChargingError):
    pass


class IdTokenAlreadyRegistered(ChargingError):
    pass


class NotYourIdToken(ChargingError):
    pass


class UnknownTransaction(ChargingError):
    pass


@dataclass(frozen=True)
class TransactionEventResult:
    recorded: bool  # False: a duplicate seqNo, acknowledged and not stored again
    transaction: Transaction
    id_token_status: str | None  # what to answer in idTokenInfo (only when the message carried an idToken)


class ChargingService:
    """Charging commands of the CloudBay application."""

    if TYPE_CHECKING:  # provided by the application this is mixed into
        repository: Repository[UUID]
        committer: GroupCommitter

        def save(self, *objs: Any, **kwargs: Any) -> Any: ...
        def get_charger(self, station_id: str) -> Charger: ...
        def _update(self, aggregate_id: UUID, command: Callable[[Any], Any], missing: ServiceError) -> Any: ...
        def _update_charger(self, station_id: str, command: Callable[[Charger], Any]) -> Any: ...

    # --- id tokens ------------------------------------------------------------------------

    def _local_list(self) -> LocalAuthList:
        try:
            auth_list: LocalAuthList = self.repository.get(LocalAuthList.create_id())
        except AggregateNotFoundError:
            auth_list = LocalAuthList()
        return auth_list

    def local_auth_list(self) -> LocalAuthList:
        return self._local_list()

    def get_id_token(self, value: str) -> IdToken:
        try:
            token: IdToken = self.repository.get(IdToken.create_id(normalise_token(value)))
        except (AggregateNotFoundError, IdTokenError):
            raise UnknownIdToken(f"no id token {value}") from None
        return token

    def register_id_token(self, value: str, token_type: str, user: str, kind: TokenKind, label: str = "") -> IdToken:
        """Register a card (or guest token) to ``user``; the local list changes in the same save."""
        value = normalise_token(value)
        user = normalise_email(user)

        def register() -> IdToken:
            try:
                token: IdToken = self.repository.get(IdToken.create_id(value))
            except AggregateNotFoundError:
                return IdToken.register(value, token_type, user, kind, label)
            try:
                token.reissue(token_type, user, kind, label)
            except IdTokenError:
                raise IdTokenAlreadyRegistered(f"id token {value} is already registered") from None
            return token

        return self._change_token(value, register)

    def change_id_token(self, value: str, action: str, *, acting_user: str, operator: bool) -> IdToken:
        """Block, unblock or remove a token: its owner or an operator may."""

        def change() -> IdToken:
            token = self.get_id_token(value)
            if not operator and token.user != acting_user:
                raise NotYourIdToken(f"id token {token.value} is not yours")
            {"block": token.block, "unblock": token.unblock, "remove": token.remove}[action]()
            return token

        return self._change_token(value, change)

    def _change_token(self, value: str, command: Callable[[], IdToken]) -> IdToken:
        """Run a token command and save the token with the local list it changes, retrying a lost race."""
        for _ in range(MAX_RETRIES):
            token = command()
            if not token.pending_events:
                return token  # nothing changed (blocking a blocked card)
            auth_list = self._local_list()
            auth_list.change(token)
            try:
                self.save(token, auth_list)
            except IntegrityError:
                continue
            return token
        raise ConcurrentUpdate(f"id token {value} kept changing; try again")

    def authorize(self, value: str) -> tuple[str, IdToken | None]:
        """The AuthorizationStatus for an id token presented at a charger (C01)."""
        try:
            token = self.get_id_token(value)
        except UnknownIdToken:
            return "Unknown", None
        return token.ocpp_status, token

    # --- transactions ---------------------------------------------------------------------

    def get_transaction(self, station_id: str, transaction_id: str) -> Transaction:
        try:
            tx: Transaction = self.repository.get(Transaction.create_id(station_id, transaction_id))
        except AggregateNotFoundError:
            raise UnknownTransaction(f"no transaction {transaction_id} on {station_id}") from None
        return tx

    def record_transaction_event(
        self,
        station_id: str,
        *,
        transaction_id: str,
        event_type: EventType,
        seq_no: int,
        timestamp: datetime,
        trigger_reason: str,
        offline: bool = False,
        evse_id: int | None = None,
        connector_id: int | None = None,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        remote_start_id: int | None = None,
        id_token: str | None = None,
        samples: list[Sample] | None = None,
    ) -> TransactionEventResult:
        """Record one TransactionEvent (E01-E03, E09, J02) once, and attribute the transaction."""
        token_value = normalise_token(id_token) if id_token else None

        for _ in range(MAX_RETRIES):
            try:
                tx: Transaction = self.repository.get(Transaction.create_id(station_id, transaction_id))
            except AggregateNotFoundError:
                self.get_charger(station_id)  # only a whitelisted charger opens transactions
                tx = Transaction.open(station_id, transaction_id, evse_id, connector_id)
            recorded = tx.report(
                seq_no=seq_no,
                event_type=event_type,
                timestamp=timestamp,
                trigger_reason=trigger_reason,
                offline=offline,
                charging_state=charging_state,
                stopped_reason=stopped_reason,
                remote_start_id=remote_start_id,
                id_token=token_value,
                samples=samples,
            )
            authorized = {token_value: self.authorize(token_value)} if token_value else {}
            token_status = authorized[token_value][0] if token_value else None
            if not recorded:
                return TransactionEventResult(False, tx, token_status)
            if tx.attribution in UNDECIDED:
                self._attribute(tx, lambda: self.get_charger(station_id), authorized)
            try:
                self.committer.save(tx)
            except IntegrityError:
                continue
            return TransactionEventResult(recorded, tx, token_status)
        raise ConcurrentUpdate(f"transaction {transaction_id} kept changing; try again")

    def _attribute(
        self,
        tx: Transaction,
        charger: Callable[[], Charger],
        authorized: dict[str, tuple[str, IdToken | None]] | None = None,
    ) -> None:
        """Decide who the transaction is charged to, once the evidence is there (first evidence wins).

        The charger is loaded only when its remote starts or its RFID setting are the evidence; the RFID setting
        is read once, when the transaction's first message arrives.
        """
        if tx.attribution not in UNDECIDED:
            return
        remote = charger().remote_starts.get(tx.remote_start_id) if tx.remote_start_id is not None else None
        token_value = tx.reported_id_token
        if remote is not None:
            tx.attribute(remote["user"], remote["id_token"], Attribution.APP.value, "Accepted")
        elif token_value:
            status, token = (authorized or {}).get(token_value) or self.authorize(token_value)
            if token is not None:
                kind = Attribution.GUEST if token.kind is TokenKind.GUEST else Attribution.CARD
                tx.attribute(token.user, token.value, kind.value, status)
            elif tx.attribution is None:
                tx.attribute(None, token_value, Attribution.UNKNOWN.value, status)
        elif tx.attribution is None and len(tx.reports) == 1 and not charger().rfid_required:
            tx.attribute(None, None, Attribution.DEFAULT_ACCOUNT.value, "Accepted")

    def record_meter_values(
        self, station_id: str, evse_id: int, samples: list[Sample], transaction_id: str | None
    ) -> str:
        """Meter values (J03): to the EVSE's transaction when there is one, else kept on the charger."""
        if transaction_id is not None:
            self._update(
                Transaction.create_id(station_id, transaction_id),
                lambda tx: tx.record_meter_values(samples),
                UnknownTransaction(f"no transaction {transaction_id} on {station_id}"),
            )
            return "transaction"
        self._update_charger(station_id, lambda c: c.report_meter_values(evse_id, [s.to_dict() for s in samples]))
        return "charger"

    # --- CSMS-initiated exchanges ---------------------------------------------------------------

    def new_remote_start_id(self) -> int:
        return secrets.randbelow(2**31 - 1) + 1

    def record_remote_start(
        self, station_id: str, remote_start_id: int, user: str, evse_id: int | None, id_token: str
    ) -> None:
        self._update_charger(station_id, lambda c: c.request_remote_start(remote_start_id, user, evse_id, id_token))

    def record_remote_start_answer(
        self, station_id: str, remote_start_id: int, answer: str, transaction_id: str | None
    ) -> None:
        self._update_charger(station_id, lambda c: c.answer_remote_start(remote_start_id, answer, transaction_id))

    def record_remote_stop(self, station_id: str, transaction_id: str, user: str, answer: str) -> None:
        self._update_charger(station_id, lambda c: c.request_remote_stop(transaction_id, user, answer))

    def record_local_list_sent(self, station_id: str, version: int, update_type: str, answer: str) -> None:
        self._update_charger(station_id, lambda c: c.send_local_list(version, update_type, answer))

    def set_rfid_required(self, station_id: str, required: bool) -> bool:
        return self._update_charger(station_id, lambda c: c.require_rfid(required))

    def charger_view(self, station_id: str) -> dict[str, Any]:
        charger = self.get_charger(station_id)
        return {"rfid_required": charger.rfid_required, "local_list_version": charger.local_list_version}
