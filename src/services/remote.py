"""Remote control from the app and the dashboard: start and stop charging (F01-F03), reset (B11/B12).

Each workflow records the request, sends it through the ``ChargerLink`` port, records the answer (or what
happened instead: Offline, Timeout, an error code), and turns a refusal into ``ChargerRefused``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cloudbay_domain.id_token import TokenStatus, app_id_token
from cloudbay_domain.transaction import TransactionStatus
from services.chargers import Chargers
from services.errors import ServiceError
from services.id_tokens import IdTokens, NotYourIdToken
from services.ports import ChargerLink, ChargerOffline, LinkError, RequestStart, RequestStop, Reset
from services.transactions import NotYourTransaction, Transactions

Runner = Callable[..., Awaitable[Any]]  # runs a blocking store call off the event loop


class ChargerRefused(ServiceError):
    """The charger answered, and not Accepted; ``status`` is its answer."""

    def __init__(self, station_id: str, status: str) -> None:
        super().__init__(f"charger {station_id} answered {status}")
        self.status = status


class TokenNotUsable(ServiceError):
    pass


class TransactionEnded(ServiceError):
    pass


@dataclass(frozen=True)
class Started:
    station_id: str
    remote_start_id: int
    status: str
    transaction_id: str | None


class RemoteControl:
    def __init__(
        self, chargers: Chargers, id_tokens: IdTokens, transactions: Transactions, link: ChargerLink, run: Runner
    ) -> None:
        self.chargers, self.id_tokens, self.transactions = chargers, id_tokens, transactions
        self.link, self.run = link, run

    async def _reachable(self, station_id: str) -> None:
        await self.run(self.chargers.get, station_id)  # ChargerNotWhitelisted
        if not self.link.is_reachable(station_id):
            raise ChargerOffline(f"charger {station_id} is offline")

    async def start(self, station_id: str, user: str, evse_id: int | None, card: str | None, operator: bool) -> Started:
        """Start charging for ``user`` with their ``card`` (or the app's own token for them)."""
        id_token, id_token_type = app_id_token(user), "Central"
        if card is not None:
            token = await self.run(self.id_tokens.get, card)
            if not operator and token.user != user:
                raise NotYourIdToken(f"no id token {card}")
            if token.status is not TokenStatus.ACTIVE:
                raise TokenNotUsable(f"id token {token.value} is {token.status.value}")
            id_token, id_token_type = token.value, token.token_type
        await self._reachable(station_id)
        remote_start_id = secrets.randbelow(2**31 - 1) + 1
        record = self.chargers.change
        await self.run(record, station_id, lambda c: c.request_remote_start(remote_start_id, user, evse_id, id_token))
        try:
            answer = await self.link.request(
                station_id, RequestStart(id_token, id_token_type, remote_start_id, evse_id)
            )
        except LinkError as error:
            reason = error.reason
            await self.run(record, station_id, lambda c: c.answer_remote_start(remote_start_id, reason, None))
            raise
        tx = answer.transaction_id
        await self.run(record, station_id, lambda c: c.answer_remote_start(remote_start_id, answer.status, tx))
        if answer.status != "Accepted":
            raise ChargerRefused(station_id, answer.status)
        return Started(station_id, remote_start_id, answer.status, tx)

    async def stop(self, station_id: str, transaction_id: str, user: str, operator: bool) -> str:
        """Stop a running transaction: its user or an operator may."""
        tx = await self.run(self.transactions.get, station_id, transaction_id)
        if not operator and tx.user != user:
            raise NotYourTransaction(f"no transaction {transaction_id} on {station_id}")
        if tx.status is TransactionStatus.ENDED:
            raise TransactionEnded(f"transaction {transaction_id} has already ended")
        await self._reachable(station_id)
        record = lambda c, answer: c.request_remote_stop(transaction_id, user, answer)  # noqa: E731
        return await self._send(station_id, RequestStop(transaction_id), record)

    async def reset(self, station_id: str, kind: str, evse_id: int | None, operator: str) -> str:
        """Reboot the charger (or one EVSE) now (Immediate) or when no transaction runs (OnIdle)."""
        await self._reachable(station_id)
        record = lambda c, answer: c.request_reset(kind, evse_id, operator, answer)  # noqa: E731
        return await self._send(station_id, Reset(kind, evse_id), record, ok=("Accepted", "Scheduled"))

    async def _send(
        self, station_id: str, request: Any, record: Callable[[Any, str], None], ok: tuple[str, ...] = ("Accepted",)
    ) -> str:
        """Send a request whose answer is a status; record the answer (or the failure); refuse unless ``ok``."""
        try:
            answer = await self.link.request(station_id, request)
        except LinkError as error:
            reason = error.reason
            await self.run(self.chargers.change, station_id, lambda c: record(c, reason))
            raise
        await self.run(self.chargers.change, station_id, lambda c: record(c, answer.status))
        if answer.status not in ok:
            raise ChargerRefused(station_id, answer.status)
        return str(answer.status)
