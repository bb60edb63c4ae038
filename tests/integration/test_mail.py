"""hookd's e-mails reach a real SMTP server, and a broken one fails fast and quietly."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator

import pytest

from hookd.mail import Mailer, MailError, SmtpConfig, parse_smtp_url
from tests.support.smtp import SmtpSink

PASSWORD = "p@ss:w/rd?#%"  # every character that needs percent-encoding in a URL
PASSWORD_IN_URL = "p%40ss%3Aw%2Frd%3F%23%25"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture
def auth_sink() -> Iterator[SmtpSink]:
    with SmtpSink(auth=("monitor", PASSWORD)) as s:
        yield s


def closed_port() -> int:
    """Return a loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestSend:
    async def test_delivers_one_message_to_every_recipient(self, sink: SmtpSink) -> None:
        mailer = Mailer(parse_smtp_url(sink.url + "?from=hookd%40example.com"))
        to = ["webhook.monitor@example.com", "jane.doe@example.com"]
        await mailer.send(to, '[hookd] webhook "problem.update" disabled', "Grüße aus Zürich ✓.\n")

        [message] = sink.wait_for(1)
        assert message["From"] == "hookd@example.com"
        assert [a.addr_spec for a in message["To"].addresses] == to
        assert message["Subject"] == '[hookd] webhook "problem.update" disabled'
        assert message["Date"] is not None
        assert message["Message-ID"].endswith("@example.com>")
        assert message.get_content_type() == "text/plain"
        assert message.get_content() == "Grüße aus Zürich ✓.\n"
        [envelope] = sink.envelopes
        assert envelope.mail_from == "hookd@example.com"
        assert list(envelope.rcpt_tos) == to

    async def test_reads_a_comma_separated_string_as_recipients(self, sink: SmtpSink) -> None:
        await Mailer(parse_smtp_url(sink.url)).send(
            "john.doe@example.com, jane.doe@example.com", "s", "t"
        )
        sink.wait_for(1)
        [envelope] = sink.envelopes
        assert envelope.rcpt_tos == ("john.doe@example.com", "jane.doe@example.com")

    async def test_default_sender_is_hookd_at_the_mail_host(self, sink: SmtpSink) -> None:
        await Mailer(parse_smtp_url(sink.url)).send(["a@example.com"], "s", "t")
        [message] = sink.wait_for(1)
        assert message["From"] == "hookd@[127.0.0.1]"

    async def test_logs_in_with_user_name_and_password(self, auth_sink: SmtpSink) -> None:
        url = f"smtp://monitor:{PASSWORD_IN_URL}@127.0.0.1:{auth_sink.port}"
        await Mailer(parse_smtp_url(url)).send(["a@example.com"], "s", "t")
        auth_sink.wait_for(1)
        assert auth_sink.logins == ["monitor"]

    async def test_sending_without_logging_in_raises_mail_error(self, auth_sink: SmtpSink) -> None:
        with pytest.raises(MailError, match="530"):
            await Mailer(parse_smtp_url(auth_sink.url)).send(["a@example.com"], "s", "t")
        assert auth_sink.messages == []

    async def test_wrong_password_raises_mail_error(self, auth_sink: SmtpSink) -> None:
        config = dataclasses.replace(
            parse_smtp_url(auth_sink.url + "?timeout=5"), username="monitor", password="wrong!"
        )
        with pytest.raises(MailError) as caught:
            await Mailer(config).send(["a@example.com"], "s", "t")
        message = str(caught.value)
        assert f"127.0.0.1:{auth_sink.port}" in message
        assert "wrong!" not in message
        assert auth_sink.messages == []

    async def test_refused_connection_raises_mail_error_quickly(self) -> None:
        port = closed_port()
        url = f"smtp://monitor:{PASSWORD_IN_URL}@127.0.0.1:{port}?timeout=2"
        started = time.monotonic()
        with pytest.raises(MailError) as caught:
            await Mailer(parse_smtp_url(url)).send(["a@example.com"], "s", "t")
        assert time.monotonic() - started < 2
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message
        assert PASSWORD not in message
        assert PASSWORD_IN_URL not in message

    async def test_a_silent_server_times_out(self) -> None:
        # Accepts the connection (the kernel does, from the backlog) and never greets.
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]
            started = time.monotonic()
            with pytest.raises(MailError, match=r"timed out|[Tt]imeout"):
                await Mailer(parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=0.3")).send(
                    ["a@example.com"], "s", "t"
                )
            assert time.monotonic() - started < 3

    async def test_no_recipients_raises_mail_error(self, sink: SmtpSink) -> None:
        with pytest.raises(MailError, match="no recipients"):
            await Mailer(parse_smtp_url(sink.url)).send([" ", ""], "s", "t")


class TestParseSmtpUrl:
    def test_plain_smtp_defaults(self) -> None:
        config = parse_smtp_url("smtp://mail.example.com")
        assert config == SmtpConfig(
            host="mail.example.com",
            port=25,
            username=None,
            password=None,
            implicit_tls=False,
            starttls=None,
            sender="hookd@mail.example.com",
            timeout=10.0,
        )

    def test_smtps_defaults_to_port_465_and_implicit_tls(self) -> None:
        config = parse_smtp_url("SMTPS://Mail.Example.com")
        assert (config.host, config.port, config.implicit_tls) == ("mail.example.com", 465, True)

    def test_starttls_defaults_to_port_587(self) -> None:
        config = parse_smtp_url("smtp://mail.example.com?starttls=true")
        assert (config.port, config.starttls) == (587, True)
        assert parse_smtp_url("smtp://mail.example.com?starttls=false").starttls is False

    def test_all_parts(self) -> None:
        config = parse_smtp_url(
            f"smtp://web%20hooks:{PASSWORD_IN_URL}@[::1]:2525"
            "?from=hookd%20%3Chookd%40example.com%3E&timeout=2.5"
        )
        assert config.host == "::1"
        assert config.port == 2525
        assert config.username == "web hooks"
        assert config.password == PASSWORD
        assert config.sender == "hookd <hookd@example.com>"
        assert config.timeout == 2.5

    def test_repr_hides_the_password(self) -> None:
        config = parse_smtp_url(f"smtp://monitor:{PASSWORD_IN_URL}@mail.example.com")
        shown = repr(config)
        assert PASSWORD not in shown
        assert "monitor" in shown
        assert "***" in shown
        assert str(config) == shown

    @pytest.mark.parametrize(
        ("url", "complaint"),
        [
            ("http://mail.example.com", "smtp:// or smtps://"),
            ("mail.example.com", "smtp:// or smtps://"),
            ("smtp://", "no host"),
            ("smtp://:25", "no host"),
            ("smtp://mail example.com", "invalid host"),
            ("smtp://mail.example.com:http", "invalid port"),
            ("smtp://mail.example.com:70000", "invalid port"),
            ("smtp://mail.example.com:0", "port 0"),
            ("smtp://mail.example.com/inbox", "path"),
            ("smtps://mail.example.com?starttls=true", "starttls"),
            ("smtp://mail.example.com?starttls=maybe", "true or false"),
            ("smtp://mail.example.com?timeout=0", "timeout"),
            ("smtp://mail.example.com?timeout=nan", "timeout"),
            ("smtp://mail.example.com?from=hookd", "'from'"),
            ("smtp://mail.example.com?from=a%40b.c%0D%0ABcc:x%40y.z", "'from'"),
            ("smtp://mail.example.com?form=a%40b.c", "'form'"),
            ("smtp://mail.example.com?timeout=1&timeout=2", "more than once"),
            ("smtp://:secret@mail.example.com", "no user name"),
        ],
    )
    def test_rejects_a_bad_url_and_says_why(self, url: str, complaint: str) -> None:
        with pytest.raises(ValueError, match=complaint):
            parse_smtp_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            # A password with a raw '/', '?' or '#' cuts the URL short in odd places.
            "smtp://monitor:se/cret@mail.example.com",
            "smtp://monitor:se?cret@mail.example.com",
            "smtp://monitor:12?cret@mail.example.com",
            "smtp://monitor:se#cret@mail.example.com",
            "ftp://monitor:secret@mail.example.com",
        ],
    )
    def test_errors_never_show_the_password(self, url: str) -> None:
        with pytest.raises(ValueError) as caught:
            parse_smtp_url(url)
        message = str(caught.value)
        assert "cret" not in message
        assert "secret" not in message
