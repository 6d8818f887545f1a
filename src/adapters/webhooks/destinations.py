"""Where webhooks may be sent: public addresses only, checked at registration and again right before connecting.

``cloudbay_domain.destinations`` says which addresses are refused. Here names are resolved: a URL whose host is,
or resolves to, a refused address is refused at registration (422); at delivery the name is resolved again and
only an allowed address it resolves to is connected to — the address checked is the one connected to, so a
name re-pointed at a private address after registration (DNS rebinding) reaches nothing. Redirects are never
followed, and proxy environment variables are not used (a proxy would connect where we cannot check).
``CLOUDBAY_WEBHOOK_ALLOW_PRIVATE=1`` turns all this off, for receivers on a private network or this machine.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from cloudbay_domain.destinations import Address, address_refusal, host_refusal, literal_address

Resolver = Callable[[str, int], list[Address]]


def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` resolves to (``OSError`` when it does not), in the resolver's order."""
    found: list[Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = literal_address(str(sockaddr[0]).split("%")[0])  # no IPv6 zone id
        if address is not None and address not in found:
            found.append(address)
    return found


class Destinations:
    """The destination rule of one deployment (``allow_private``: every address is allowed)."""

    def __init__(self, allow_private: bool, resolver: Resolver = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    def refusal(self, url: str) -> str | None:
        """Why webhooks may not be sent to ``url``'s host, or None. A name that does not resolve now is not
        refused here (it is checked again at every delivery)."""
        parts = urlsplit(url)
        if self.allow_private or not parts.hostname:
            return None
        reason = host_refusal(parts.hostname)
        if reason is not None or literal_address(parts.hostname) is not None:
            return reason
        try:
            addresses = self.resolver(parts.hostname, parts.port or 443)
        except OSError:
            return None
        reasons = [r for r in map(address_refusal, addresses) if r is not None]
        return f"{parts.hostname} resolves to {reasons[0]}" if reasons else None

    def allowed(self, host: str, port: int) -> list[Address]:
        """The addresses of ``host`` that may be connected to; ``httpcore.ConnectError`` naming why if none."""
        reason = None if self.allow_private else host_refusal(host)
        if reason is not None:
            raise httpcore.ConnectError(f"refused: {reason}")
        literal = literal_address(host)
        try:
            addresses = [literal] if literal is not None else self.resolver(host, port)
        except OSError as e:
            raise httpcore.ConnectError(f"{host} does not resolve: {e}") from None
        if self.allow_private:
            return addresses
        allowed = [a for a in addresses if address_refusal(a) is None]
        if not allowed:
            reason = address_refusal(addresses[0]) if addresses else "no address"
            raise httpcore.ConnectError(f"refused: {host} resolves to {reason}")
        return allowed

    def transport(self) -> httpx.HTTPTransport:
        return _GuardedTransport(self)


class _GuardedBackend(httpcore.SyncBackend):
    """Opens a TCP connection only to an address the rule allows, resolved here, right before connecting (TLS
    is then set up by httpcore with the URL's host name, for SNI and certificate checks)."""

    def __init__(self, destinations: Destinations) -> None:
        self.destinations = destinations

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in self.destinations.allowed(host, port):
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:  # the next address, as a resolver's client would
                failure = e
        assert failure is not None
        raise failure


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose sockets are opened by ``_GuardedBackend``."""

    def __init__(self, destinations: Destinations) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_GuardedBackend(destinations),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
        )
