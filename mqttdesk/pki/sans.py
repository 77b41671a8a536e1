"""The names a server certificate is valid for (its SANs): parsed from text, and the default list for this
machine — localhost, 127.0.0.1, ::1, the host name and the machine's LAN addresses."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket

from cryptography import x509

from mqttdesk.core.errors import ValidationError

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
LOOPBACK_SANS = ("localhost", "127.0.0.1", "::1")


def parse_san(text: str) -> x509.GeneralName:
    """An IP address or a DNS name (a leading "*." wildcard allowed) as a SAN entry."""
    value = text.strip().strip("[]")
    if not value:
        raise ValidationError("an empty name cannot be a SAN")
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]
    if len(value) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValidationError(f"{text!r} is neither an IP address nor a host name")
    return x509.DNSName(value.rstrip(".").lower())


def san_text(entry: x509.GeneralName) -> str:
    return str(entry.value)


def normalize_sans(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Each name checked and written one way (lower-case names, canonical addresses), duplicates dropped."""
    if not names:
        raise ValidationError("a server certificate needs at least one name (SAN)")
    return tuple(dict.fromkeys(san_text(parse_san(n)) for n in names))


def sans_of(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(san_text(entry) for entry in extension)


def default_sans() -> tuple[str, ...]:
    """localhost, 127.0.0.1, ::1, this machine's host name (and its fully qualified one) and LAN addresses.

    The addresses are what the host name resolves to locally (no packet leaves the machine); link-local addresses
    are left out, since clients cannot use them without an interface name.
    """
    names: list[str] = list(LOOPBACK_SANS)
    host = socket.gethostname()
    candidates = [host]
    with contextlib.suppress(OSError):
        candidates.append(socket.getfqdn(host))
    addresses: list[str] = []
    for candidate in candidates:
        with contextlib.suppress(OSError, UnicodeError):
            for *_, sockaddr in socket.getaddrinfo(candidate, None, proto=socket.IPPROTO_TCP):
                addresses.append(str(sockaddr[0]).split("%", 1)[0])
    for candidate in candidates:
        with contextlib.suppress(ValidationError):
            names.append(san_text(parse_san(candidate)))
    for address in addresses:
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(address)
            if not ip.is_link_local and not ip.is_unspecified:
                names.append(str(ip))
    return tuple(dict.fromkeys(names))
