"""Which webhook URLs and target addresses hookd accepts."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address, ip_network

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

from hookd.domain.urlpolicy import (
    MAX_URL_LENGTH,
    address_allowed,
    is_public_address,
    validate_webhook_url,
)

HTTPS_REQUIRED = "must use https:// (start hookd with --dev to allow http://)"

NON_PUBLIC_V4_NETWORKS = [
    IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
    )
]
PUBLIC_V4_NETWORKS = [
    IPv4Network(net) for net in ("1.1.1.0/24", "8.8.8.0/24", "11.0.0.0/8", "93.184.216.0/24")
]


def addresses_in(networks: list[IPv4Network]) -> st.SearchStrategy[IPv4Address]:
    return st.sampled_from(networks).flatmap(
        lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i])
    )


def mapped(v4: IPv4Address) -> IPv6Address:
    return IPv6Address((0xFFFF << 32) | int(v4))


def compatible(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(int(v4))


def nat64(v4: IPv4Address) -> IPv6Address:
    return IPv6Address(int(IPv6Address("64:ff9b::")) | int(v4))


def six_to_four(v4: IPv4Address, low_bits: int = 0) -> IPv6Address:
    return IPv6Address((0x2002 << 112) | (int(v4) << 80) | (low_bits & ((1 << 80) - 1)))


def teredo(server: IPv4Address, client: IPv4Address) -> IPv6Address:
    # RFC 4380: the client address is stored with every bit inverted.
    inverted = ~int(client) & 0xFFFFFFFF
    return IPv6Address((0x20010000 << 96) | (int(server) << 64) | inverted)


WRAPPERS = [mapped, compatible, nat64, six_to_four]


class TestIsPublicAddress:
    @pytest.mark.parametrize(
        "address",
        [
            "0.0.0.0",
            "127.0.0.1",
            "10.0.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "203.0.113.5",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fe80::1%eth0",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "64:ff9b:1::808:808",
            "::ffff:127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:101::1",
        ],
    )
    def test_refuses_non_public(self, address: str) -> None:
        assert not is_public_address(ip_address(address))

    @pytest.mark.parametrize(
        "address",
        [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ],
    )
    def test_accepts_public(self, address: str) -> None:
        assert is_public_address(ip_address(address))

    @given(v4=addresses_in(NON_PUBLIC_V4_NETWORKS), wrap=st.sampled_from(WRAPPERS))
    def test_refuses_every_private_ipv4_however_wrapped(
        self, v4: IPv4Address, wrap: object
    ) -> None:
        assert callable(wrap)
        assert not is_public_address(v4)
        assert not is_public_address(wrap(v4))

    @given(v4=addresses_in(NON_PUBLIC_V4_NETWORKS), low=st.integers(0, (1 << 80) - 1))
    def test_refuses_6to4_of_private_ipv4_whatever_the_subnet(
        self, v4: IPv4Address, low: int
    ) -> None:
        assert not is_public_address(six_to_four(v4, low))

    @given(client=addresses_in(NON_PUBLIC_V4_NETWORKS), server=addresses_in(PUBLIC_V4_NETWORKS))
    def test_refuses_teredo_with_private_client(
        self, client: IPv4Address, server: IPv4Address
    ) -> None:
        assert not is_public_address(teredo(server, client))

    @given(v4=addresses_in(PUBLIC_V4_NETWORKS), wrap=st.sampled_from(WRAPPERS))
    def test_accepts_public_ipv4_however_wrapped(self, v4: IPv4Address, wrap: object) -> None:
        assert callable(wrap)
        assert is_public_address(wrap(v4))

    def test_accepts_teredo_between_public_addresses(self) -> None:
        assert is_public_address(teredo(IPv4Address("8.8.8.8"), IPv4Address("1.1.1.1")))


class TestAddressAllowed:
    def test_dev_allows_everything(self) -> None:
        for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "::ffff:10.0.0.1"):
            assert address_allowed(ip_address(address), allow_private=True, allowed_networks=())

    def test_allowed_network_lets_its_addresses_through(self) -> None:
        networks = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]
        allowed = ["10.1.2.3", "::ffff:10.1.2.3", "fd00::5", "8.8.8.8"]
        refused = ["192.168.0.1", "127.0.0.1", "fc00::1", "64:ff9b::a01:203"]
        for address in allowed:
            assert address_allowed(
                ip_address(address), allow_private=False, allowed_networks=networks
            ), address
        for address in refused:
            assert not address_allowed(
                ip_address(address), allow_private=False, allowed_networks=networks
            ), address


class TestValidateWebhookUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://example.com/hook", "https://example.com/hook"),
            ("  https://example.com/hook\n", "https://example.com/hook"),
            ("HTTPS://Example.COM/Hook?A=B", "https://example.com/Hook?A=B"),
            ("https://example.com:0443/x", "https://example.com:443/x"),
            ("https://example.com", "https://example.com"),
            ("https://example.com./x", "https://example.com./x"),
            ("https://example.com:/x", "https://example.com/x"),
            ("https://93.184.216.34/x", "https://93.184.216.34/x"),
            ("https://[2606:4700:4700:0::1111]:8443/x", "https://[2606:4700:4700::1111]:8443/x"),
            ("https://bücher.example/x", "https://bücher.example/x"),
            ("https://example.com/a%20b?q=%2F", "https://example.com/a%20b?q=%2F"),
        ],
    )
    def test_accepts_and_normalises(self, url: str, expected: str) -> None:
        assert validate_webhook_url(url, dev=False) == expected

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("", "must not be empty"),
            ("example.com/hook", "must be an absolute URL"),
            ("localhost:8080/hook", "must be an absolute URL"),
            ("https:example.com", "must be an absolute URL"),
            ("ftp://example.com/", "must use https:// or http://, not ftp://"),
            ("javascript://example.com/", "not javascript://"),
            ("https:///hook", "must include a host"),
            ("https://:443/hook", "must include a host"),
            ("https://user:secret@example.com/", "must not contain credentials"),
            ("https://user@example.com/", "must not contain credentials"),
            ("https://@example.com/", "must not contain credentials"),
            ("https://example.com/hook#part", "must not contain a fragment"),
            ("https://example.com/a b", "must not contain spaces"),
            ("https://example.com\\@evil.example/", "must not contain a backslash"),
            ("https://example.com/\r\nX-Injected: 1", "must not contain control characters"),
            ("https://example.com:99999/", "must have a port from 1 to 65535"),
            ("https://example.com:0/", "must have a port from 1 to 65535"),
            ("https://example.com:8o/", "must have a port from 1 to 65535"),
            ("https://example.com:١٢٣/", "must have a port from 1 to 65535"),
            ("https://2001:db8::1/", "must put an IPv6 address in brackets"),
            ("https://[2001:db8::1/", "without its closing ]"),
            ("https://[not-an-ip]/", "invalid IPv6 address"),
            ("https://[fe80::1%25eth0]/", "zone identifier"),
            ("https://[2606:4700::1111]x/", "must have a port or nothing after"),
            ("https://127.1/", "unusual IPv4 address"),
            ("https://2130706433/", "unusual IPv4 address"),
            ("https://0x7f.0.0.1/", "unusual IPv4 address"),
            ("https://010.0.0.1/", "unusual IPv4 address"),
            ("https://1.2.3.4.5/", "unusual IPv4 address"),
            ("https://exa%6dple.com/", "must not percent-encode the host"),
            ("https://exa_mple..com/", "invalid host name"),
            ("https://" + "a" * 64 + ".com/", "invalid host name"),
            ("https://${host}/hook", "placeholders in the scheme, host or port"),
            ("https://api.${region}.example.com/", "placeholders in the scheme, host or port"),
            ("https://example.com:${port}/", "placeholders in the scheme, host or port"),
            ("${url}", "placeholders in the scheme, host or port"),
            ("https://example.com/${job['id']", "without its closing }"),
        ],
    )
    def test_refuses_with_a_reason(self, url: str, message: str) -> None:
        with pytest.raises(ValueError, match=r"^[a-z]") as info:
            validate_webhook_url(url, dev=True)
        assert message in str(info.value)

    def test_refuses_too_long_urls(self) -> None:
        base = "https://example.com/"
        longest = base + "a" * (MAX_URL_LENGTH - len(base))
        assert validate_webhook_url(longest, dev=False) == longest
        with pytest.raises(ValueError, match="at most 2048 characters"):
            validate_webhook_url(longest + "a", dev=False)

    def test_requires_https_outside_dev(self) -> None:
        with pytest.raises(ValueError) as info:
            validate_webhook_url("http://example.com/hook", dev=False)
        assert str(info.value) == HTTPS_REQUIRED

    @pytest.mark.parametrize(
        "url",
        [
            "http://example.com/hook",
            "http://127.0.0.1:9000/hook",
            "http://localhost:9000/hook",
            "http://[::1]:9000/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data/",
        ],
    )
    def test_dev_allows_http_and_private_targets(self, url: str) -> None:
        assert validate_webhook_url(url, dev=True) == url

    @pytest.mark.parametrize(
        "url",
        [
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.2]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:7f00:1::]/",
            "https://[fe80::1]/",
            "https://[ff02::1]/",
            "https://224.0.0.1/",
        ],
    )
    def test_refuses_non_public_ip_literals_outside_dev(self, url: str) -> None:
        with pytest.raises(ValueError, match=r"non-public address .*--dev"):
            validate_webhook_url(url, dev=False)

    @pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
    def test_refuses_localhost_names_outside_dev(self, host: str) -> None:
        with pytest.raises(ValueError, match="must not point at this machine"):
            validate_webhook_url(f"https://{host}/hook", dev=False)

    @given(v4=addresses_in(NON_PUBLIC_V4_NETWORKS), wrap=st.sampled_from(WRAPPERS))
    def test_refuses_wrapped_private_literals(self, v4: IPv4Address, wrap: object) -> None:
        assert callable(wrap)
        with pytest.raises(ValueError, match="non-public address"):
            validate_webhook_url(f"https://{v4}/hook", dev=False)
        with pytest.raises(ValueError, match="non-public address"):
            validate_webhook_url(f"https://[{wrap(v4)}]/hook", dev=False)

    def test_allowed_networks_open_private_literals(self) -> None:
        networks = [ip_network("10.0.0.0/8"), ip_network("127.0.0.0/8")]
        for url in ("https://10.2.3.4/hook", "https://127.0.0.1/", "https://localhost/"):
            assert validate_webhook_url(url, dev=False, allowed_networks=networks) == url
        with pytest.raises(ValueError, match="non-public address"):
            validate_webhook_url("https://192.168.0.1/", dev=False, allowed_networks=networks)
        with pytest.raises(ValueError, match="must use https://"):
            validate_webhook_url("http://10.2.3.4/", dev=False, allowed_networks=networks)


class TestPlaceholders:
    @pytest.mark.parametrize(
        "url",
        [
            "https://example.com/jobs/${job['id']}/done",
            "https://example.com/hook?title=${job['title'] | urlencode}&host=${system['fqdn']}",
            'https://example.com/${ {"a": "b"}["a"] }',
            "https://example.com/${job['a#b?c']}",
            "https://example.com/${job['}']}",
            "https://example.com/${x}${y}?${z}",
        ],
    )
    def test_accepts_placeholders_in_path_and_query(self, url: str) -> None:
        assert validate_webhook_url(url, dev=False) == url

    @given(
        key=st.text(
            st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"], exclude_characters="'\\"),
            max_size=40,
        ),
        in_query=st.booleans(),
    )
    def test_accepts_any_quoted_key(self, key: str, in_query: bool) -> None:
        placeholder = "${job['" + key + "']}"
        url = "https://example.com/hook" + ("?id=" if in_query else "/") + placeholder
        assert validate_webhook_url(url, dev=False) == url


class TestOwnUrl:
    SELF = "http://127.0.0.1:8000"

    @pytest.mark.parametrize(
        "url",
        ["http://127.0.0.1:8000/v1/apps/default/events", "HTTP://127.0.0.1:8000/", SELF],
    )
    def test_allows_chaining_into_hookd(self, url: str) -> None:
        assert validate_webhook_url(url, dev=False, self_url=self.SELF).startswith(self.SELF)

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://127.0.0.1:8001/v1/apps/default/events", "must use https://"),
            ("https://127.0.0.1:8000/v1/apps/default/events", "non-public address"),
            ("http://localhost:8000/v1/apps/default/events", "must use https://"),
            ("https://user:pw@127.0.0.1:8000/", "credentials"),
        ],
    )
    def test_other_origins_get_no_exception(self, url: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            validate_webhook_url(url, dev=False, self_url=self.SELF)

    def test_default_port_matches_explicit_port(self) -> None:
        url = "https://HOOKD.internal:443/v1/apps/default/events"
        own = "https://hookd.internal"
        expected = "https://hookd.internal:443/v1/apps/default/events"
        assert validate_webhook_url(url, dev=False, self_url=own) == expected

    def test_malformed_self_url_matches_nothing(self) -> None:
        with pytest.raises(ValueError, match="must use https://"):
            validate_webhook_url("http://127.0.0.1:8000/", dev=False, self_url="not a url")


class TestAgreesWithTheHttpClient:
    """The host checked here must be the host aiohttp (through yarl) connects to."""

    @pytest.mark.parametrize(
        ("url", "host", "port"),
        [
            ("https://Example.COM/x", "example.com", 443),
            ("https://example.com:8443/x?y=1", "example.com", 8443),
            ("http://93.184.216.34:80/x", "93.184.216.34", 80),
            ("https://[2606:4700:4700:0:0:0:0:1111]/", "2606:4700:4700::1111", 443),
            ("https://[::ffff:127.0.0.1]/", "::ffff:7f00:1", 443),
            ("https://example.com/@evil.example/", "example.com", 443),
            ("https://example.com?@evil.example/", "example.com", 443),
            ("https://example.com/${job['@evil.example']}", "example.com", 443),
        ],
    )
    def test_same_host_and_port_as_yarl(self, url: str, host: str, port: int) -> None:
        parsed = yarl.URL(validate_webhook_url(url, dev=True))
        assert (parsed.host, parsed.port) == (host, port)

    @given(
        labels=st.lists(
            st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
            min_size=1,
            max_size=4,
        ),
        port=st.none() | st.integers(1, 65535),
        path=st.text(st.sampled_from("abc/?=&%@:;.!$'()*+,~-_"), max_size=30),
    )
    def test_generated_urls_agree_with_yarl(
        self, labels: list[str], port: int | None, path: str
    ) -> None:
        host = ".".join([*labels, "example"])
        netloc = host if port is None else f"{host}:{port}"
        url = f"https://{netloc}/{path}"
        parsed = yarl.URL(validate_webhook_url(url, dev=True))
        assert parsed.host == host
        assert parsed.port == (port or 443)
