"""The target guard refuses non-public addresses at connect time, with hookd's real client.

Every client here uses `TripwireGuard`: the real guard, plus a last check that
any socket it lets through is for this machine. A guard bug therefore fails the
test with `Tripwire` instead of sending a packet to 10.0.0.1 or 169.254.169.254.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import pytest
from aiohappyeyeballs import AddrInfoType

from hookd.delivery.client import HttpClient, HttpError, Resolver
from hookd.delivery.guard import BlockedTarget, TargetGuard

TIMEOUT = 5.0


class Tripwire(Exception):
    """The guard let a socket through to an address off this machine."""


class TripwireGuard(TargetGuard):
    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        sock = super().socket_factory(addr_info)
        ip = ip_address(addr_info[4][0])
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        # Linux delivers connections to 0.0.0.0 and :: to this host, like loopback.
        if not (ip.is_loopback or ip.is_unspecified):
            sock.close()
            raise Tripwire(f"the guard let a connection to {ip} through")
        return sock


def guard(
    *,
    allow_private: bool = False,
    allowed_networks: Sequence[IPv4Network | IPv6Network] = (),
    allowed_hosts: Collection[tuple[str, int]] = (),
) -> TripwireGuard:
    return TripwireGuard(
        allow_private=allow_private,
        allowed_networks=allowed_networks,
        allowed_hosts=allowed_hosts,
    )


@asynccontextmanager
async def client(
    target_guard: TargetGuard, resolver: Resolver | None = None
) -> AsyncIterator[HttpClient]:
    session = HttpClient(target_guard, resolver=resolver)
    try:
        yield session
    finally:
        await session.close()


@dataclass
class Receiver:
    """A loopback HTTP server that counts every connection it accepts."""

    host: str
    port: int = 0
    connections: int = 0
    redirect_to: str | None = None
    server: asyncio.Server | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.redirect_to is None:
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
            else:
                head = f"HTTP/1.1 302 Found\r\nLocation: {self.redirect_to}\r\n".encode()
                head += b"Content-Length: 2\r\n"
            writer.write(head + b"Connection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
async def v4() -> AsyncIterator[Receiver]:
    receiver = Receiver("127.0.0.1")
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def v4_other() -> AsyncIterator[Receiver]:
    receiver = Receiver("127.0.0.1")
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def v6() -> AsyncIterator[Receiver | None]:
    if not ipv6_loopback_available():
        yield None
        return
    receiver = Receiver("::1")
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Yield a loopback port that refuses connections: bound, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def assert_refused(session: HttpClient, url: str) -> None:
    # pytest.raises(HttpError) alone would let another failure or a Tripwire
    # pass as "some error"; anything but a guard refusal fails the test.
    with pytest.raises(HttpError) as info:
        await fetch(session, url)
    assert info.value.code == "blocked_target", (
        f"{url}: failed, but not because the guard refused: {info.value!r}"
    )
    assert isinstance(info.value.__cause__, BlockedTarget)  # the guard's own refusal
    assert info.value.message.startswith("blocked: refused to connect to")


async def fetch(session: HttpClient, url: str) -> int:
    async with asyncio.timeout(TIMEOUT):
        response = await session.request("GET", url, {}, b"", max_body=1024)
    return response.status


BLOCKED_TARGETS = [
    pytest.param("http://127.0.0.1:{port}/", id="ipv4-loopback"),
    pytest.param("http://[::1]:{port6}/", id="ipv6-loopback"),
    pytest.param("http://[::ffff:127.0.0.1]:{port}/", id="ipv4-mapped-loopback"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
    pytest.param("http://10.0.0.1/", id="private"),
    pytest.param("http://0.0.0.0:{port}/", id="unspecified"),
    pytest.param("http://[64:ff9b::7f00:1]:{port}/", id="nat64-loopback"),
    pytest.param("http://localhost:{port}/", id="name-resolving-to-loopback"),
]


class TestRefusesNonPublicTargets:
    @pytest.mark.parametrize("template", BLOCKED_TARGETS)
    async def test_refused_before_connecting(
        self, template: str, v4: Receiver, v6: Receiver | None
    ) -> None:
        if "{port6}" in template and v6 is None:
            pytest.skip("this machine has no IPv6 loopback (::1)")
        url = template.format(port=v4.port, port6=v6.port if v6 else 0)
        async with client(guard(allow_private=False)) as session:
            await assert_refused(session, url)
        assert v4.connections == 0
        assert v6 is None or v6.connections == 0

    def test_socket_factory_names_the_address(self) -> None:
        addr_info: AddrInfoType = (
            socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
            "",
            ("10.0.0.1", 80),
        )
        with pytest.raises(BlockedTarget) as info:
            TargetGuard(allow_private=False).socket_factory(addr_info)
        assert str(info.value) == "refused to connect to 10.0.0.1: not a public address"

    def test_socket_factory_hands_out_sockets_for_public_addresses(self) -> None:
        addr_info: AddrInfoType = (
            socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
            "",
            ("93.184.216.34", 443),
        )
        # Only creates the socket; nothing is connected or sent.
        with TargetGuard(allow_private=False).socket_factory(addr_info) as sock:
            assert sock.family == socket.AF_INET

    async def test_a_redirect_is_an_answer_never_followed(
        self, v4: Receiver, v4_other: Receiver
    ) -> None:
        v4.redirect_to = v4_other.url("/stolen")
        async with client(guard(allowed_hosts={("127.0.0.1", v4.port)})) as session:
            assert await fetch(session, v4.url()) == 302
        assert (v4.connections, v4_other.connections) == (1, 0)


class TestNamesWithSeveralAddresses:
    """A name resolving to several addresses, as `localhost` does on many machines."""

    @staticmethod
    async def resolve(host: str, port: int) -> list[AddrInfoType]:
        assert host == "dual.invalid"
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port)),
        ]

    async def test_all_refused_still_reads_as_blocked(self, v4: Receiver) -> None:
        async with client(guard(allow_private=False), self.resolve) as session:
            await assert_refused(session, f"http://dual.invalid:{v4.port}/")
        assert v4.connections == 0

    async def test_connects_to_the_allowed_address(self, v4: Receiver) -> None:
        target_guard = guard(allowed_hosts={("127.0.0.1", v4.port)})
        async with client(target_guard, self.resolve) as session:
            assert await fetch(session, f"http://dual.invalid:{v4.port}/") == 200
        assert v4.connections == 1


class TestAllowsWhatItShould:
    @pytest.mark.parametrize(
        "template",
        [
            "http://127.0.0.1:{port}/",
            "http://localhost:{port}/",
            "http://[::ffff:127.0.0.1]:{port}/",
            "http://0.0.0.0:{port}/",
        ],
    )
    async def test_dev_mode_reaches_loopback(self, template: str, v4: Receiver) -> None:
        # Also shows that each refused URL above would really have reached the receiver.
        async with client(guard(allow_private=True)) as session:
            assert await fetch(session, template.format(port=v4.port)) == 200
        assert v4.connections == 1

    async def test_dev_mode_reaches_ipv6_loopback(self, v6: Receiver | None) -> None:
        if v6 is None:
            pytest.skip("this machine has no IPv6 loopback (::1)")
        async with client(guard(allow_private=True)) as session:
            assert await fetch(session, v6.url()) == 200
        assert v6.connections == 1

    async def test_allowed_network_reaches_loopback(
        self, v4: Receiver, v6: Receiver | None
    ) -> None:
        target_guard = guard(allowed_networks=[ip_network("127.0.0.0/8")])
        async with client(target_guard) as session:
            assert await fetch(session, v4.url()) == 200
            assert await fetch(session, f"http://[::ffff:127.0.0.1]:{v4.port}/") == 200
            if v6 is not None:
                await assert_refused(session, v6.url())
        assert v4.connections == 2
        assert v6 is None or v6.connections == 0

    async def test_allowed_host_opens_only_its_port(self, v4: Receiver, v4_other: Receiver) -> None:
        async with client(guard(allowed_hosts={("127.0.0.1", v4.port)})) as session:
            assert await fetch(session, v4.url()) == 200
            assert await fetch(session, f"http://localhost:{v4.port}/") == 200
            await assert_refused(session, v4_other.url())
        assert (v4.connections, v4_other.connections) == (2, 0)

    def test_allowed_hosts_take_listen_hosts_as_configured(self) -> None:
        target_guard = TargetGuard(
            allow_private=False,
            allowed_hosts={("localhost", 8000), ("0.0.0.0", 8001), ("hookd.internal", 8002)},
        )
        assert target_guard.allows("127.0.0.1", 8000)
        assert target_guard.allows("::1", 8000)
        assert target_guard.allows("::ffff:127.0.0.1", 8000)
        assert target_guard.allows("0.0.0.0", 8001)
        assert not target_guard.allows("127.0.0.1", 8001)
        assert not target_guard.allows("127.0.0.1", 8002)  # names are never resolved
        assert not target_guard.allows("hookd.internal", 8002)


class TestOtherErrors:
    async def test_other_connection_errors_are_not_blocked(self, closed_port: int) -> None:
        async with client(guard(allow_private=True)) as session:
            with pytest.raises(HttpError) as info:
                await fetch(session, f"http://127.0.0.1:{closed_port}/")
        assert (info.value.code, info.value.message) == ("connection_refused", "connection refused")
        assert isinstance(info.value.__cause__, ConnectionRefusedError)


class TestSelfChainingExemption:
    """hookd's own port is open only for the public URL's exact host and port."""

    async def test_only_the_public_urls_host_reaches_hookds_port(self, v4: Receiver) -> None:
        target_guard = TripwireGuard(
            allow_private=False,
            allowed_hosts={("127.0.0.1", v4.port)},
            self_origins=[("127.0.0.1", v4.port)],
        )
        async with client(target_guard) as session:
            assert await fetch(session, v4.url()) == 200  # the client names its own URL
            other = f"http://localhost:{v4.port}/"  # another name resolving to hookd's address
            await assert_refused(session, other)
            with target_guard.target(v4.url()):  # a caller's naming cannot lend the exemption
                await assert_refused(session, other)
        assert v4.connections == 1
