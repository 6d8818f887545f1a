"""Which network addresses the platform may send to on an operator's behalf (webhooks): public unicast ones only.

A webhook URL is chosen by whoever holds an operator token; without this rule it could make the platform post
to its own machine, to the cloud's metadata service (169.254.169.254) or to any host of the private network
behind it (server-side request forgery). Refused: unspecified, loopback, link-local, private (RFC 1918 and the
other non-public IPv4 ranges), shared CGNAT space, unique-local and site-local IPv6, multicast, anything else
not globally routable; IPv6 forms that embed an IPv4 address (mapped, 6to4, NAT64) are judged by that address.
Names are judged by the addresses they resolve to (``adapters.webhooks.destinations``); ``localhost`` names
need no resolver to be refused.
"""

from __future__ import annotations

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598: carrier-grade NAT
UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the well-known prefix embeds an IPv4 address
LOCAL_NAMES = ("localhost", "localhost.localdomain")


def literal_address(host: str) -> Address | None:
    """The address a host written as an IP literal stands for, in any spelling the C resolver accepts (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``, ``[::1]``); IPv4-mapped IPv6 as its IPv4 address; None for a name."""
    host = host.strip().strip("[]").rstrip(".").lower()
    address: Address | None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host)))
        except (OSError, UnicodeError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_local_name(host: str) -> bool:
    host = host.strip().rstrip(".").lower()
    return host in LOCAL_NAMES or host.endswith(".localhost")


def address_refusal(address: Address) -> str | None:
    """Why nothing may be sent to ``address`` (it is not a public unicast address), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded)
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata services live there)"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return f"{address} is in the shared (CGNAT) address space 100.64.0.0/10"
    if isinstance(address, ipaddress.IPv6Address) and (address in UNIQUE_LOCAL or address.is_site_local):
        return f"{address} is a unique-local (private) IPv6 address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_private:
        return f"{address} is a private address"
    if not address.is_global or address.is_reserved:
        return f"{address} is not a public address"
    return None


def host_refusal(host: str) -> str | None:
    """Why ``host`` is refused without asking a resolver (a localhost name, a refused IP literal), or None."""
    if is_local_name(host):
        return f"{host} names this machine (localhost)"
    address = literal_address(host)
    return address_refusal(address) if address is not None else None
