"""A real SMTP server on loopback that keeps every message it receives.

It is aiosmtpd's threaded `Controller`, so sync tests, async tests and
subprocesses under test can all send to it.

    with SmtpSink() as sink:                      # or SmtpSink(auth=("user", "pw"))
        ... point hookd at sink.url ...
        [message] = sink.wait_for(1)
        assert message["Subject"] == "…"
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["Envelope", "SmtpSink"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Envelope:
    """Who a message was sent from and to at the SMTP level (MAIL FROM, RCPT TO)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


class SmtpSink:
    """Receive mail on 127.0.0.1 and keep it for the test to inspect."""

    def __init__(self, *, auth: tuple[str, str] | None = None) -> None:
        self.host = HOST
        self.port = 0
        self.auth = auth
        self._lock = threading.Condition()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[Envelope] = []
        self._logins: list[str] = []
        self._controller: Controller | None = None

    @property
    def auth_required(self) -> bool:
        """Return whether clients must log in (AUTH) before sending."""
        return self.auth is not None

    @property
    def url(self) -> str:
        """Return an `smtp://` URL for hookd, without credentials."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        """Return the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[Envelope]:
        """Return the SMTP envelopes of those messages, in the same order."""
        with self._lock:
            return list(self._envelopes)

    @property
    def logins(self) -> list[str]:
        """Return the user names that logged in successfully."""
        with self._lock:
            return list(self._logins)

    def start(self) -> SmtpSink:
        """Start serving; return self."""
        assert self._controller is None, "SmtpSink already started"
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            # AUTH over plain text: loopback only, and tests have no certificate. Not
            # auth_required=True: with auth_require_tls=False aiosmtpd then warns on every
            # connection (an error under filterwarnings=error); _Handler enforces it.
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        # Controller(port=0) connects to port 0 in its start-up self-check, so pick a
        # free port first; another process may take it in between, hence the retries.
        for attempt in range(3):
            self.port = _free_port()
            controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, ready_timeout=10.0, **kwargs
            )
            try:
                controller.start()
            except OSError:
                if attempt == 2:
                    raise
                continue
            self._controller = controller
            break
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived; return them all."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {count} message(s); "
                    f"got {len(self._messages)}"
                )
            return list(self._messages)

    def _receive(self, envelope: Any) -> None:
        content: bytes = envelope.original_content or envelope.content
        # The wire has CRLF line ends; a test compares text as Python writes it.
        content = content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
            self._envelopes.append(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos)))
            self._lock.notify_all()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.auth is not None:
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if (login, password) == self.auth:
                with self._lock:
                    self._logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _Handler:
    """aiosmtpd calls `handle_DATA` once per message, on the server's thread."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self._sink.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._sink._receive(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port
