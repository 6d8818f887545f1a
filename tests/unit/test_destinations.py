"""Which addresses webhooks may be sent to: public unicast ones only, whatever the spelling."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudbay_domain.destinations import address_refusal, host_refusal

PRIVATE_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]


@pytest.mark.parametrize("host", ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "hooks.example.com"])
def test_public_hosts_are_allowed(host: str) -> None:
    assert host_refusal(host) is None


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("localhost", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("a.b.localhost", "localhost"),
        ("127.1", "loopback"),
        ("0x7f.0.0.1", "loopback"),
        ("2130706433", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("::ffff:a9fe:a9fe", "link-local"),
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("100.127.255.255", "CGNAT"),
        ("fd00::1", "unique-local"),
        ("::", "unspecified"),
    ],
)
def test_local_and_private_hosts_are_refused_naming_why(host: str, why: str) -> None:
    reason = host_refusal(host)
    assert reason is not None and why in reason


@given(st.sampled_from(PRIVATE_NETWORKS), st.integers(min_value=0))
def test_every_address_of_a_non_public_range_is_refused(network: str, offset: int) -> None:
    net = ipaddress.ip_network(network)
    address = net[offset % net.num_addresses]
    assert address_refusal(address) is not None


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_an_ipv4_address_and_its_ipv6_embeddings_are_judged_alike(n: int) -> None:
    v4 = ipaddress.IPv4Address(n)
    mapped = ipaddress.IPv6Address(0xFFFF << 32 | n)
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | n)
    refused = address_refusal(v4) is not None
    assert (address_refusal(mapped) is not None) is refused
    assert (address_refusal(nat64) is not None) is refused
