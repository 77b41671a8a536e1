"""Bans: an address (or IPv6 /64), a username or a clientId refused at CONNECT before anything else is looked at,
why, since and until when, and who banned it — the login guard (`AUTOMATIC`, see guard.py) or an administrator.
Pure values; the store keeps them (store/bans_repo.py), the broker applies them through the guard.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from mqttdesk.core.addresses import is_loopback_address
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.timefmt import format_clock

AUTOMATIC = "automatic"  # the actor of a ban the login guard made


class BanKind(StrEnum):
    ADDRESS = "address"  # an IPv4 address or an IPv6 address or /64
    USERNAME = "username"
    CLIENT_ID = "client-id"


def ban_value(kind: BanKind, value: str) -> str:
    """The value a ban of `kind` is stored and matched under; ValidationError for one that can never match."""
    if kind is BanKind.ADDRESS:
        text = value.strip()
        try:
            if "/" in text:
                network = ipaddress.ip_network(text, strict=False)
                if network.version == 4 and network.prefixlen != 32 or network.version == 6 and \
                        network.prefixlen not in (64, 128):
                    raise ValidationError(f"an address ban names one address or an IPv6 /64, not {text!r}")
                return str(network.network_address) if network.prefixlen in (32, 128) else str(network)
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise ValidationError(f"{value!r} is not an IP address") from None
    if not value:
        raise ValidationError(f"a {kind.value} ban needs a {kind.value}")
    return value


@dataclass(frozen=True, slots=True)
class Ban:
    kind: BanKind
    value: str
    reason: str  # why, in words: "10 failed logins in 60 s from 127.0.0.5", "flapping: …", "by cli"
    since: float
    until: float | None  # None: until an administrator removes it
    actor: str = AUTOMATIC

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.value}"

    @property
    def automatic(self) -> bool:
        return self.actor == AUTOMATIC

    def active(self, now: float) -> bool:
        return self.until is None or self.until > now

    def to_wire(self) -> dict[str, object]:
        """As the control channel carries it (times in seconds since the epoch)."""
        return {"kind": self.kind.value, "value": self.value, "reason": self.reason, "since": self.since,
                "until": self.until, "actor": self.actor}

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> Ban:
        until = data.get("until")
        return cls(BanKind(str(data["kind"])), str(data["value"]), str(data["reason"]), float(str(data["since"])),
                   None if until is None else float(str(until)), str(data["actor"]))

    def who(self) -> str:
        """"address 127.0.0.5", "username 'lamp'", "clientId 'DVES_1'"."""
        if self.kind is BanKind.ADDRESS:
            return f"address {self.value}"
        return f"{'clientId' if self.kind is BanKind.CLIENT_ID else 'username'} '{self.value}'"

    def until_words(self, now: float) -> str:
        return "until removed" if self.until is None else f"until {format_clock(self.until, now)}"

    def sentence(self, now: float) -> str:
        """"banned until 03:14:07: 10 failed logins in 60 s from 127.0.0.5" (what the client and the Auth log read);
        a loopback address is told how to lift it (it is most likely the administrator's own machine)."""
        text = f"banned {self.until_words(now)}: {self.reason}"
        if self.kind is BanKind.ADDRESS and is_loopback_address(self.value):
            text += (f"; a loopback address: lift it with `mqttdesk ban remove {self.value}` (or never ban "
                     "loopback: `mqttdesk config set guard.exempt_loopback on`)")
        return text
