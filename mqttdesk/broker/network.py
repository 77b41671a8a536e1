"""Being found on the network: this machine's LAN addresses, and the broker's mDNS/DNS-SD advertisement.

While the broker listens beyond loopback (and `listen.mdns` is on, the default) it is advertised with
python-zeroconf as `_mqtt._tcp` for the plain listener and `_secure-mqtt._tcp` for the TLS one, so Home Assistant,
MQTTX and phone apps that browse for brokers find it. On loopback nothing is advertised: no other machine could
connect anyway. A failed advertisement (no multicast route, a port 5353 that cannot be opened) is logged and leaves
the broker running.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ifaddr

from mqttdesk.broker.transport import ListenerInfo
from mqttdesk.store.settings_repo import is_loopback

if TYPE_CHECKING:
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPES = {"tcp": "_mqtt._tcp.local.", "tls": "_secure-mqtt._tcp.local."}
WILDCARDS = ("0.0.0.0", "::", "")


def lan_addresses() -> list[str]:
    """The IPv4 addresses of this machine's network interfaces, loopback and link-local left out, sorted."""
    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: devices such as Tasmota take an IPv4 MqttHost
            address = ipaddress.ip_address(ip.ip)
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                found.add(ip.ip)
    return sorted(found, key=ipaddress.ip_address)


def device_hosts(listen_host: str) -> list[str]:
    """The addresses a device may put in MqttHost: the LAN addresses for a wildcard listener, else the one bound."""
    if listen_host in WILDCARDS:
        return lan_addresses()
    return [listen_host]


def should_advertise(listen_host: str, enabled: bool) -> bool:
    return enabled and not is_loopback(listen_host)


@dataclass(frozen=True, slots=True)
class Advertised:
    service_type: str
    name: str
    port: int
    addresses: tuple[str, ...]


class Advertiser:
    """Registers one DNS-SD service per plain/TLS listener; `interfaces` None means every interface."""

    def __init__(self, instance_name: str | None = None, interfaces: Sequence[str] | None = None) -> None:
        self.instance_name = instance_name or f"mqttdesk on {socket.gethostname()}"
        self._interfaces = list(interfaces) if interfaces is not None else None
        self._zeroconf: AsyncZeroconf | None = None
        self._infos: list[ServiceInfo] = []
        self.advertised: list[Advertised] = []

    async def start(self, listeners: Sequence[ListenerInfo], addresses: Sequence[str]) -> list[Advertised]:
        """Advertise the plain and TLS listeners at `addresses`; returns what was registered."""
        # imported here: a broker on loopback (the default) never advertises, and zeroconf is start-up time
        from zeroconf import InterfaceChoice, IPVersion, NonUniqueNameException, ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

        wanted = [info for info in listeners if info.kind in SERVICE_TYPES]
        if not wanted or not addresses:
            return []
        packed = [socket.inet_aton(address) for address in addresses]
        interfaces = self._interfaces if self._interfaces is not None else InterfaceChoice.All
        self._zeroconf = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        server = socket.gethostname().split(".")[0] + ".local."
        for info in wanted:
            service_type = SERVICE_TYPES[info.kind]
            service = ServiceInfo(service_type, f"{self.instance_name}.{service_type}", port=info.port,
                                  addresses=packed, server=server, properties={"broker": "mqttdesk"})
            try:
                await self._zeroconf.async_register_service(service, allow_name_change=True)
            except NonUniqueNameException:
                log.warning("mDNS: the name %r is taken on the network", service.name)
                continue
            self._infos.append(service)
            self.advertised.append(Advertised(service_type, service.name, info.port, tuple(addresses)))
        return list(self.advertised)

    async def stop(self) -> None:
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is None:
            return
        try:
            if self._infos:
                await zeroconf.async_unregister_all_services()
        finally:
            self._infos.clear()
            self.advertised.clear()
            await zeroconf.async_close()


class Advertising:
    """The broker's advertisement for one run: begun when it starts listening, ended when it stops."""

    def __init__(self) -> None:
        self.advertiser: Advertiser | None = None
        self._task: asyncio.Task[None] | None = None

    def begin(self, listeners: Sequence[ListenerInfo], listen_host: str, enabled: bool) -> None:
        """Advertise in the background (probing the names takes a second or two: the start does not wait)."""
        if should_advertise(listen_host, enabled):
            self.advertiser = Advertiser()
            self._task = asyncio.create_task(self._run(self.advertiser, listeners, listen_host), name="mqttdesk-mdns")

    async def _run(self, advertiser: Advertiser, listeners: Sequence[ListenerInfo], listen_host: str) -> None:
        try:
            for item in await advertiser.start(listeners, device_hosts(listen_host)):
                log.info("advertised on the network as %s (mDNS)", item.name)
        except Exception as exc:  # no multicast route, port 5353 unavailable: the broker runs on, unadvertised
            log.warning("mDNS: the broker could not be advertised: %s", exc)
            await advertiser.stop()

    async def end(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        advertiser, self.advertiser = self.advertiser, None
        if advertiser is not None:
            try:
                await advertiser.stop()
            except Exception as exc:
                log.warning("mDNS: withdrawing the advertisement failed: %s", exc)
