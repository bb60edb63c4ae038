"""Which webhook URLs hookd accepts, and which addresses count as public.

`validate_webhook_url` checks a URL when a webhook is created or changed; its
messages complete the sentence "url …" for a 422 on field `url`. It never
resolves names: a hostname that resolves to a private address passes here and
is refused at connect time by `hookd.delivery.guard`, which uses
`is_public_address` and `address_allowed` on every address it connects to.

Path and query may hold template placeholders (`${job['id']}`), rendered per
delivery; scheme, host and port may not, so the target is known up front.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = [
    "MAX_URL_LENGTH",
    "address_allowed",
    "is_public_address",
    "validate_webhook_url",
]

MAX_URL_LENGTH = 2048

IPAddress = IPv4Address | IPv6Address

# Python 3.11's `is_global` misses several of these (6to4, site-local, NAT64),
# so the IANA special-purpose registries are spelled out here as well.
_NON_PUBLIC_V4 = tuple(
    IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; connecting to 0.0.0.0 reaches this host
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, home of cloud metadata services
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255
    )
)
_NON_PUBLIC_V6 = tuple(
    IPv6Network(net)
    for net in (
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): never global, whatever it embeds
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments
        "2001:db8::/32",
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routed inside sites)
        "ff00::/8",  # multicast
    )
)
_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")

# Forms that carry an IPv4 address in their last 32 bits and deliver to it.
_IPV4_IN_LAST_32 = tuple(
    IPv6Network(net)
    for net in (
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "::/96",  # IPv4-compatible (deprecated); also holds :: and ::1
        "64:ff9b::/96",  # well-known NAT64 prefix
    )
)
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")

_LOOPBACK_NAMES = (IPv4Address("127.0.0.1"), IPv6Address("::1"))
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_LABEL = re.compile(r"[\w-]{1,63}")  # \w: letters of any script (IDN), digits, _
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PLACEHOLDER_IN_ORIGIN = "must not have template placeholders in the scheme, host or port"
_MASK = "\x00"  # stands in for placeholder text; control characters are refused first


def is_public_address(ip: IPv4Address | IPv6Address) -> bool:
    """Return True only for a globally routable unicast address."""
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(_is_public_v4(v4) for v4 in embedded)
        return _is_public_v6(ip)
    return _is_public_v4(ip)


def address_allowed(
    ip: IPv4Address | IPv6Address,
    *,
    allow_private: bool,
    allowed_networks: Sequence[IPv4Network | IPv6Network],
) -> bool:
    """Return True when hookd may connect to `ip`."""
    if allow_private or is_public_address(ip):
        return True
    # An IPv4-mapped address reaches the IPv4 host itself, so it matches IPv4 networks.
    candidates: tuple[IPAddress, ...] = (ip,)
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        candidates = (ip, ip.ipv4_mapped)
    return any(
        candidate.version == net.version and candidate in net
        for candidate in candidates
        for net in allowed_networks
    )


def validate_webhook_url(
    url: str,
    *,
    dev: bool,
    self_url: str | None = None,
    allowed_networks: Sequence[IPv4Network | IPv6Network] = (),
) -> str:
    """Return `url` normalised, or raise ValueError saying what is wrong with it."""
    target = _parse(url)
    is_self = self_url is not None and target.origin == _origin_or_none(self_url)
    if dev or is_self:
        return target.normalised
    if target.scheme != "https":
        raise ValueError("must use https:// (start hookd with --dev to allow http://)")
    if target.ip is not None and not address_allowed(
        target.ip, allow_private=False, allowed_networks=allowed_networks
    ):
        raise ValueError(
            f"must not point at a private, loopback or otherwise non-public address "
            f"({target.ip}) (start hookd with --dev to allow it)"
        )
    if _is_localhost_name(target.host) and not any(
        address_allowed(ip, allow_private=False, allowed_networks=allowed_networks)
        for ip in _LOOPBACK_NAMES
    ):
        raise ValueError(
            f"must not point at this machine ({target.host}) (start hookd with --dev to allow it)"
        )
    return target.normalised


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str  # lower case; IPv6 in brackets, compressed
    port: int | None
    ip: IPAddress | None
    normalised: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port or _DEFAULT_PORTS[self.scheme])


def _origin_or_none(url: str) -> tuple[str, str, int] | None:
    try:
        return _parse(url).origin
    except ValueError:
        # A malformed self URL matches nothing; it is configuration, not user input.
        return None


def _parse(url: str) -> _Target:
    url = url.strip()
    if not url:
        raise ValueError("must not be empty")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters long")
    if _CONTROL.search(url):
        raise ValueError("must not contain control characters such as line breaks or tabs")
    masked = _mask_placeholders(url)

    if masked.startswith(_MASK):
        raise ValueError(_PLACEHOLDER_IN_ORIGIN)
    scheme_match = _SCHEME.match(masked)
    if scheme_match is None:
        raise ValueError("must be an absolute URL such as https://example.com/hook")
    scheme = scheme_match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"must use https:// or http://, not {scheme}://")
    start = scheme_match.end()

    # Clients disagree on what a backslash means (WHATWG reads it as "/"), which
    # would let the host checked here differ from the host connected to.
    if "\\" in masked:
        raise ValueError("must not contain a backslash (write it as %5C)")
    if "#" in masked:
        raise ValueError("must not contain a fragment (#…): it is never sent to the receiver")
    if re.search(r"\s", masked):
        raise ValueError("must not contain spaces (write them as %20)")

    end = len(masked)
    for delimiter in "/?":
        found = masked.find(delimiter, start)
        if found != -1:
            end = min(end, found)
    authority = masked[start:end]
    if _MASK in authority:
        raise ValueError(_PLACEHOLDER_IN_ORIGIN)
    if "@" in authority:
        raise ValueError("must not contain credentials (user:password@); use headers instead")

    host, ip, port = _split_authority(authority)
    netloc = host if port is None else f"{host}:{port}"
    return _Target(
        scheme=scheme,
        host=host,
        port=port,
        ip=ip,
        normalised=f"{scheme}://{netloc}{url[end:]}",
    )


def _split_authority(authority: str) -> tuple[str, IPAddress | None, int | None]:
    ip: IPAddress | None
    if authority.startswith("["):
        literal, bracket, rest = authority[1:].partition("]")
        if not bracket:
            raise ValueError("has an IPv6 address without its closing ]")
        if "%" in literal:
            raise ValueError("must not use an IPv6 zone identifier (%…)")
        try:
            ip = IPv6Address(literal)
        except ValueError:
            raise ValueError(f"has an invalid IPv6 address [{literal}]") from None
        host = f"[{ip.compressed}]"
        if rest and not rest.startswith(":"):
            raise ValueError("must have a port or nothing after the IPv6 address")
        port_text = rest[1:] if rest else ""
    else:
        host, colon, port_text = authority.partition(":")
        if colon and ":" in port_text:
            raise ValueError("must put an IPv6 address in brackets, such as https://[2001:db8::1]/")
        host = host.lower()
        ip = _ipv4_host(host)
        if ip is None:
            _check_hostname(host)
    if not host:
        raise ValueError("must include a host, such as https://example.com/hook")
    port: int | None = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError("must have a port from 1 to 65535")
        port = int(port_text)
    return host, ip, port


def _ipv4_host(host: str) -> IPv4Address | None:
    """Return the IPv4 address a host spells, or None for a hostname."""
    # As in the WHATWG URL standard: a host whose last label is numeric is an
    # IPv4 address. Only dotted-quad is accepted; resolvers read "127.1",
    # "2130706433" or "0x7f.1" as loopback, which would dodge the checks here.
    last_label = host.removesuffix(".").rpartition(".")[2]
    if not _NUMERIC_LABEL.fullmatch(last_label):
        return None
    try:
        return IPv4Address(host)
    except ValueError:
        raise ValueError(
            f"has an unusual IPv4 address {host!r}; write it as four decimal numbers, "
            "such as 192.0.2.1"
        ) from None


def _check_hostname(host: str) -> None:
    if not host:
        return
    if "%" in host:
        raise ValueError("must not percent-encode the host")
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"has an invalid host name {host!r}")


def _is_localhost_name(host: str) -> bool:
    name = host.removesuffix(".")
    # RFC 6761: every *.localhost name resolves to loopback.
    return name == "localhost" or name.endswith(".localhost")


def _mask_placeholders(url: str) -> str:
    """Return `url` with each `${…}` placeholder overwritten by mask characters."""
    out: list[str] = []
    i = 0
    while True:
        begin = url.find("${", i)
        if begin == -1:
            out.append(url[i:])
            return "".join(out)
        end = _placeholder_end(url, begin + 2)
        out.append(url[i:begin])
        out.append(_MASK * (end - begin))
        i = end


def _placeholder_end(url: str, i: int) -> int:
    """Return the index just past the `}` closing a placeholder whose body starts at `i`."""
    # Jinja balances braces and skips quoted strings inside `${…}`; do the same.
    depth = 0
    quote = ""
    while i < len(url):
        char = url[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        i += 1
    raise ValueError("has a ${ placeholder without its closing }")


def _embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...] | None:
    """Return the IPv4 addresses an IPv6 address delivers to, or None if it is native."""
    for net in _IPV4_IN_LAST_32:
        if ip in net:
            return (IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip in _SIX_TO_FOUR and ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip in _TEREDO and ip.teredo is not None:
        server, client = ip.teredo  # the client is stored inverted; ipaddress undoes that
        return (server, client)
    return None


def _is_public_v4(ip: IPv4Address) -> bool:
    return ip.is_global and not any(ip in net for net in _NON_PUBLIC_V4)


def _is_public_v6(ip: IPv6Address) -> bool:
    return (
        ip in _GLOBAL_UNICAST_V6 and ip.is_global and not any(ip in net for net in _NON_PUBLIC_V6)
    )
