"""Refuse to connect to addresses a webhook may not reach (SSRF guard).

The check runs in the client's socket factory, on the very address about to
be connected to, after DNS and for every connection: IP literals such as
`[::ffff:127.0.0.2]` and names that resolve (or re-resolve) to private
addresses all pass through it. A resolver hook alone would miss IP literals,
which are never resolved.

The client (client.py) never follows redirects and never uses a proxy (a
proxy would be the only address the guard sees).

    TargetGuard.socket_factory   refuses with BlockedTarget, before any packet is sent
    TargetGuard.allows           the same decision, for dropping refused addresses
                                 after DNS so a name with one allowed address still connects
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from aiohappyeyeballs import AddrInfoType

from hookd.domain.urlpolicy import address_allowed

__all__ = ["BlockedTarget", "TargetGuard"]


class BlockedTarget(OSError):
    """The guard refused to connect to an address."""

    def __init__(self, address: str, reason: str = "not a public address") -> None:
        # EACCES gives the error a strerror to show.
        super().__init__(errno.EACCES, f"refused to connect to {address}: {reason}")
        self.address = address

    def __str__(self) -> str:
        return str(self.strerror)


class TargetGuard:
    """Decide which addresses hookd may connect to, and enforce it on sockets."""

    def __init__(
        self,
        *,
        allow_private: bool,
        allowed_networks: Sequence[IPv4Network | IPv6Network] = (),
        allowed_hosts: Collection[tuple[str, int]] = (),
        self_origins: Collection[tuple[str, int]] | None = None,
    ) -> None:
        """Allow public addresses, plus everything in dev, listed networks and (ip, port) pairs.

        `allowed_hosts` holds hookd's own listen addresses, so webhooks can chain
        into hookd's API. `localhost` stands for 127.0.0.1 and ::1; other names
        are skipped, because the guard never resolves names. With `self_origins`
        (the public URL's host and port), that exemption holds only while the
        request's own URL names one of them (see `target`), not for any name
        that happens to resolve to hookd's address.
        """
        self._self_origins = (
            None if self_origins is None else frozenset((h.lower(), p) for h, p in self_origins)
        )
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        self._allowed_hosts = frozenset(
            (ip, port) for host, port in allowed_hosts for ip in _listen_addresses(host)
        )

    def allows(self, address: str, port: int) -> bool:
        """Return True when a connection to `address` (an IP address) on `port` is allowed."""
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        if (_plain(ip), port) in self._allowed_hosts and self._is_self_target():
            return True
        return address_allowed(
            ip, allow_private=self.allow_private, allowed_networks=self.allowed_networks
        )

    def _is_self_target(self) -> bool:
        return self._self_origins is None or _target.get() in self._self_origins

    @staticmethod
    @contextmanager
    def target(url: str) -> Iterator[None]:
        """Name the URL being requested, so the self exemption can check its host and port."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        token = _target.set(((parts.hostname or "").lower(), port))
        try:
            yield
        finally:
            _target.reset(token)

    def check(self, address: str, port: int) -> None:
        """Raise BlockedTarget unless a connection to `address` on `port` is allowed."""
        if self.allows(address, port):
            return
        try:
            ip_address(address)
        except ValueError:
            raise BlockedTarget(address, "not an IP address") from None
        raise BlockedTarget(address)

    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        """Return a socket for `addr_info`, or raise BlockedTarget before anything is sent."""
        family, type_, proto, _canonname, sockaddr = addr_info
        self.check(str(sockaddr[0]), int(sockaddr[1]))
        return socket.socket(family=family, type=type_, proto=proto)


_target: ContextVar[tuple[str, int] | None] = ContextVar("hookd_guard_target", default=None)


def _listen_addresses(host: str) -> tuple[IPv4Address | IPv6Address, ...]:
    """Return the addresses a listen host stands for; none for a name other than localhost."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return (IPv4Address("127.0.0.1"), IPv6Address("::1"))
    try:
        return (_plain(ip_address(host)),)
    except ValueError:
        return ()


def _plain(ip: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """Return the IPv4 address behind an IPv4-mapped one, else `ip` without its zone."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return IPv6Address(int(ip))
    return ip
