"""Client addresses as the broker counts them: one IPv4 address, or one IPv6 /64 (a host is routinely given a whole
/64, so counting per IPv6 address would give one machine millions of shares, queues or clean slates)."""

from __future__ import annotations

import functools
import ipaddress

IPV6_SHARE_PREFIX = 64


# asked several times for every CONNECT (bans, guessing, flapping, shares): parsing is ~5 µs, a cache hit 0.1
@functools.lru_cache(maxsize=16384)
def address_source(address: str | None) -> str:
    """Whose share this client address counts against: the IPv4 address, or its IPv6 /64 ("" for none)."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        host_bits = 128 - IPV6_SHARE_PREFIX
        return str(ipaddress.IPv6Network(((int(ip) >> host_bits) << host_bits, IPV6_SHARE_PREFIX)))
    return str(ip)


def is_loopback_address(address: str | None) -> bool:
    """127.0.0.0/8, ::1 (and an IPv4-mapped loopback address)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("/", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
