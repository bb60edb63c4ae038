"""Send hookd's e-mails (failure digests) through an SMTP server.

    SMTP URL --parse_smtp_url--> SmtpConfig --Mailer--> send(to, subject, text)
                                                         └── MailError on any failure

A broken mail server must never delay or lose a delivery, so `Mailer.send`
turns every failure into one `MailError` for the caller to log and count, and
gives up after the configured timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

__all__ = ["MailError", "Mailer", "SmtpConfig", "parse_smtp_url"]

DEFAULT_TIMEOUT = 10.0
_PARAMS = ("from", "starttls", "timeout")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# Only echo a parameter name that looks like one: a broken URL can put a piece
# of the password where the query string should be.
_PARAM_NAME = re.compile(r"[A-Za-z_]{1,32}")
_HOST = re.compile(r"[\w.:-]+")  # a DNS name (IDN too), IPv4 or IPv6 (without brackets)


class MailError(Exception):
    """Sending an e-mail failed; the message names the server and the cause."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send e-mail."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool | None  # None: upgrade when the server offers it
    sender: str  # the From address
    timeout: float  # seconds for a whole send

    def __repr__(self) -> str:
        password = None if self.password is None else "***"
        return (
            f"SmtpConfig(host={self.host!r}, port={self.port!r}, username={self.username!r}, "
            f"password={password!r}, implicit_tls={self.implicit_tls!r}, "
            f"starttls={self.starttls!r}, sender={self.sender!r}, timeout={self.timeout!r})"
        )

    @property
    def address(self) -> str:
        """Return `host:port`, with brackets around an IPv6 host."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse `smtp[s]://[user[:password]@]host[:port][?from=addr&starttls=bool&timeout=s]`."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        found = f"not {scheme}://" if scheme else "it has no scheme"
        raise ValueError(f"SMTP URL must start with smtp:// or smtps://; {found}")
    # Messages below never quote the URL: it may hold a password.
    hint = " (percent-encode '/', '?', '#' and '@' in the user name and password)"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"SMTP URL has an invalid port{hint}") from None
    host = parts.hostname
    if not host:
        raise ValueError("SMTP URL has no host")
    if not _HOST.fullmatch(host):
        raise ValueError("SMTP URL has an invalid host: expected a DNS name or an IP address")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"SMTP URL must not have a path or fragment{hint}")

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ValueError("SMTP URL has a password but no user name")

    params = _parse_params(parts.query)
    implicit_tls = scheme == "smtps"
    starttls = _parse_bool("starttls", params["starttls"]) if "starttls" in params else None
    if implicit_tls and starttls:
        raise ValueError("starttls=true does not apply to smtps://, which is TLS already")
    if port is None:
        port = 465 if implicit_tls else 587 if starttls else 25
    elif port == 0:
        raise ValueError("SMTP URL has port 0; expected 1 to 65535")
    timeout = _parse_timeout(params.get("timeout"))
    sender = params.get("from") or f"hookd@{_mail_domain(host)}"
    _check_sender(sender)
    return SmtpConfig(
        host=host,
        port=port,
        username=username,
        password=password,
        implicit_tls=implicit_tls,
        starttls=starttls,
        sender=sender,
        timeout=timeout,
    )


def _parse_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _PARAMS:
            shown = f" {name!r}" if _PARAM_NAME.fullmatch(name) else ""
            raise ValueError(
                f"SMTP URL has an unknown parameter{shown}; expected {', '.join(_PARAMS)}"
            )
        if name in params:
            raise ValueError(f"SMTP URL gives {name!r} more than once")
        params[name] = value
    return params


def _parse_bool(name: str, value: str) -> bool:
    try:
        return _BOOLS[value.lower()]
    except KeyError:
        raise ValueError(f"SMTP URL parameter {name!r} must be true or false") from None


def _parse_timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        timeout = float(value)
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError("SMTP URL parameter 'timeout' must be a positive number of seconds")
    return timeout


def _mail_domain(host: str) -> str:
    """Return `host` as the domain of an address: IP literals go in brackets (RFC 5321)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"


def _check_sender(sender: str) -> None:
    # CR/LF would let the value inject headers; '@' catches a forgotten domain.
    _, address = parseaddr(sender)
    if "\r" in sender or "\n" in sender or "@" not in address:
        raise ValueError("SMTP URL parameter 'from' must be an e-mail address")


class Mailer:
    """Send plain-text e-mails with one `SmtpConfig`; one connection per message."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, to: Sequence[str], subject: str, text: str) -> None:
        """Send `text` to every address in `to`; raise `MailError` on any failure.

        A single string is read as a comma-separated list (`mail_exceptions_to`).
        """
        config = self.config
        try:
            message = self._message(to, subject, text)
            # aiosmtplib's timeout bounds each step; this bounds the whole send, so a
            # server that answers slowly, step by step, cannot hold a caller for long.
            async with asyncio.timeout(config.timeout):
                await aiosmtplib.send(
                    message,
                    hostname=config.host,
                    port=config.port,
                    username=config.username,
                    password=config.password,
                    use_tls=config.implicit_tls,
                    start_tls=config.starttls,
                    timeout=config.timeout,
                )
        except Exception as exc:
            raise MailError(
                f"cannot send mail via {config.address}: {self._describe(exc)}"
            ) from exc

    def _message(self, to: Sequence[str], subject: str, text: str) -> EmailMessage:
        recipients = _recipients(to)
        if not recipients:
            raise ValueError("no recipients")
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        # make_msgid() without a domain looks up this host's FQDN, which can block.
        domain = parseaddr(self.config.sender)[1].rpartition("@")[2].strip("[]") or "hookd"
        message["Message-ID"] = make_msgid(domain=domain)
        # Tells out-of-office responders and mailing lists not to answer (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text, charset="utf-8")
        return message

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, TimeoutError) and not str(exc):
            cause = f"timed out after {self.config.timeout:g} s"
        else:
            cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        # A server may echo what it was sent; the password never reaches a log.
        password = self.config.password
        if password:
            cause = cause.replace(password, "***")
        return cause


def _recipients(to: Sequence[str]) -> list[str]:
    items = to.split(",") if isinstance(to, str) else to
    return [address.strip() for address in items if address.strip()]
