"""Charging transactions: each TransactionEvent recorded once, attributed, and the EVSE it runs on tracked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudbay_domain.charger import Charger
from cloudbay_domain.id_token import IdToken, TokenKind, normalise_token
from cloudbay_domain.reports import MeterValuesReport, TransactionReport
from cloudbay_domain.transaction import Attribution, Transaction, TransactionStatus
from services.chargers import Chargers, not_whitelisted
from services.errors import ServiceError
from services.id_tokens import IdTokens
from services.store import EventLog

UNDECIDED = (None, Attribution.DEFAULT_ACCOUNT, Attribution.UNKNOWN)  # attributions later evidence may replace
Authorized = dict[str, tuple[str, IdToken | None]]


class UnknownTransaction(ServiceError):
    pass


class NotYourTransaction(UnknownTransaction):
    """Another user's transaction: refused exactly as an unknown one, so that its existence is not revealed."""


@dataclass(frozen=True)
class TransactionEventResult:
    recorded: bool  # False: a duplicate seqNo, acknowledged and not stored again
    transaction: Transaction
    id_token_status: str | None  # what to answer in idTokenInfo (only when the message carried an idToken)


class Transactions:
    def __init__(self, log: EventLog, chargers: Chargers, id_tokens: IdTokens) -> None:
        self.log, self.chargers, self.id_tokens = log, chargers, id_tokens
        log.kept_kinds = (*log.kept_kinds, Transaction)  # each is changed by its charger's session, one at a time

    def get(self, station_id: str, transaction_id: str) -> Transaction:
        missing = UnknownTransaction(f"no transaction {transaction_id} on {station_id}")
        tx: Transaction = self.log.load(Transaction.create_id(station_id, transaction_id), missing)
        return tx

    def record_event(self, station_id: str, report: TransactionReport) -> TransactionEventResult:
        """Record one TransactionEvent (E01-E03, E09, J02) once, attribute the transaction, track its EVSE."""
        token = normalise_token(report.id_token) if report.id_token else None

        def attempt() -> tuple[TransactionEventResult, list[Any]]:
            # a Started opens a transaction: its stream is not read first (a retransmitted one fails its save)
            started = report.event_type.value == "Started"
            tx: Transaction | None = self.log.take(Transaction.create_id(station_id, report.transaction_id), started)
            opened = tx is None
            charger = _Lazy(lambda: self._charger(station_id))
            if opened or report.event_type.value in ("Started", "Ended"):
                # read now, before anything changes: only a whitelisted charger opens transactions, and a call
                # run on the event loop that must read the store is moved to a store thread before it changed
                # what it took (which goes back to be taken there)
                charger.load()
            if tx is None:
                tx = Transaction.open(station_id, report.transaction_id, report.evse_id, report.connector_id)
            authorized: Authorized = {token: self.id_tokens.authorize_at(charger, token)} if token else {}
            status = authorized[token][0] if token else None
            if not tx.report(report):
                self._confirm(charger)
                self.log.keep(tx, *charger.loaded())
                return TransactionEventResult(False, tx, status), []
            if tx.attribution in UNDECIDED:
                self._attribute(tx, charger, authorized)
            self._track_evse(tx, report, opened, charger)
            self._confirm(charger)
            return TransactionEventResult(True, tx, status), [tx, *charger.loaded()]

        return self.log.retrying(attempt, f"transaction {report.transaction_id}")

    def _charger(self, station_id: str) -> Charger:
        charger: Charger | None = self.log.take(Charger.create_id(station_id))
        if charger is None:
            raise not_whitelisted(station_id)
        return charger

    def _confirm(self, charger: _Lazy) -> None:
        """What was decided from the charger counts when its save checks it (it changed), or it was read now."""
        if charger.consulted and not charger.load().pending_events:
            self.log.relied_on(charger.load())

    @staticmethod
    def _track_evse(tx: Transaction, report: TransactionReport, opened: bool, charger: _Lazy) -> None:
        """Keep the charger's EVSE -> running transaction map (for J03 meter values), from live messages only.

        The charger is loaded only when the map may change: a transaction's first message, a Started, an Ended.
        """
        evse_id = report.evse_id if report.evse_id is not None else tx.evse_id
        if evse_id is None or report.offline:
            return
        if opened or report.event_type.value in ("Started", "Ended"):
            charger().track_transaction(evse_id, tx.transaction_id, tx.status is TransactionStatus.ACTIVE)

    def _attribute(self, tx: Transaction, charger: Callable[[], Charger], authorized: Authorized) -> None:
        """Decide who the transaction is charged to, once the evidence is there (first evidence wins).

        The charger is loaded only when its remote starts or its RFID setting are the evidence; the RFID setting
        is read once, when the transaction's first message arrives.
        """
        remote = charger().remote_starts.get(tx.remote_start_id) if tx.remote_start_id is not None else None
        token_value = tx.reported_id_token
        if remote is not None:
            tx.attribute(remote["user"], remote["id_token"], Attribution.APP.value, "Accepted")
        elif token_value:
            status, token = authorized.get(token_value) or self.id_tokens.authorize(token_value)
            if token is not None:
                kind = Attribution.GUEST if token.kind is TokenKind.GUEST else Attribution.CARD
                tx.attribute(token.user, token.value, kind.value, status)
            elif tx.attribution is None:
                tx.attribute(None, token_value, Attribution.UNKNOWN.value, status)
        elif tx.attribution is None and len(tx.reports) == 1 and not charger().rfid_required:
            tx.attribute(None, None, Attribution.DEFAULT_ACCOUNT.value, "Accepted")

    def record_meter_values(self, station_id: str, report: MeterValuesReport) -> str:
        """Meter values (J03): to the transaction running on that EVSE when there is one, else to the charger."""
        running = self.chargers.get(station_id).running.get(report.evse_id) if report.evse_id else None
        if running is None:
            self.chargers.record_meter_values(station_id, report)
            return "charger"
        missing = UnknownTransaction(f"no transaction {running} on {station_id}")
        tx_id = Transaction.create_id(station_id, running)
        self.log.change(tx_id, lambda tx: tx.record_meter_values(report.samples), missing)
        return "transaction"


class _Lazy:
    """The charger, loaded on first use and then the same copy (so its changes are saved with the transaction).
    Called, it is consulted (a decision depends on what it holds); ``load`` only makes sure it exists."""

    def __init__(self, load: Callable[[], Charger]) -> None:
        self._load = load
        self._charger: Charger | None = None
        self.consulted = False

    def load(self) -> Charger:
        if self._charger is None:
            self._charger = self._load()
        return self._charger

    def __call__(self) -> Charger:
        self.consulted = True
        return self.load()

    def loaded(self) -> list[Charger]:
        return [] if self._charger is None else [self._charger]


__all__ = ["TransactionEventResult", "Transactions", "UnknownTransaction", "not_whitelisted"]
