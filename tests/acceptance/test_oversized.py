"""Oversized requests get hookd's JSON error, whichever client sends them.

A 3 MB body (over HOOKD_MAX_BODY_BYTES, 1 MB) must answer 413 to every client,
including those that write the whole body before reading (urllib), whose
connection the server used to reset about 1 time in 12. Each case runs 50
times so that such a failure would show.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from tests.support.server import ADMIN_KEY, HookdProcess

BIG = b"x" * (3 * 1024 * 1024)
ROUTES = (
    "/v1/apps/default/events",
    "/v1/apps/default/events/batch",
    "/v1/apps/default/webhooks",
    "/v1/no/such/route",
)
TIMES = 50
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hookd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookdProcess]:
    workdir: Path = tmp_path_factory.mktemp("oversized")
    process = HookdProcess(f"sqlite:///{workdir / 'hookd.db'}", workdir).start()
    yield process
    process.kill()


def route(i: int) -> str:
    return ROUTES[i % len(ROUTES)]


def assert_error(status: int, body: bytes, want_status: int, code: str) -> None:
    assert status == want_status, body[:200]
    error: dict[str, Any] = orjson.loads(body)["error"]
    assert error["code"] == code
    assert error["message"]
    assert "details" in error


def raw_exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send one request on a socket; read the answer to the end of the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head_part, _, rest = answer.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, rest


class TestBodyOverTheLimit:
    def test_urllib_always_gets_the_413(self, hookd: HookdProcess) -> None:
        for i in range(TIMES):
            request = urllib.request.Request(
                hookd.url + route(i), data=BIG, method="POST", headers=AUTH
            )
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.headers["Connection"] == "close"
            assert_error(caught.value.code, caught.value.read(), 413, "payload_too_large")

    def test_requests_always_gets_the_413(self, hookd: HookdProcess) -> None:
        with requests.Session() as session:
            for i in range(TIMES):
                r = session.post(hookd.url + route(i), data=BIG, headers=AUTH, timeout=10)
                assert_error(r.status_code, r.content, 413, "payload_too_large")

    def test_a_raw_socket_always_gets_the_413(self, hookd: HookdProcess) -> None:
        for i in range(TIMES):
            head = (
                f"POST {route(i)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(BIG)}\r\n\r\n"
            ).encode()
            status, headers, body = raw_exchange(hookd.port, head, BIG)
            assert headers["connection"] == "close"
            assert_error(status, body, 413, "payload_too_large")

    def test_a_chunked_body_over_the_limit_gets_the_413(self, hookd: HookdProcess) -> None:
        def chunks() -> Iterator[bytes]:
            for _ in range(30):
                yield b"y" * 100_000

        for i in range(TIMES // 5):
            connection = http.client.HTTPConnection("127.0.0.1", hookd.port, timeout=10)
            connection.request("POST", route(i), body=chunks(), headers=AUTH, encode_chunked=True)
            answer = connection.getresponse()
            assert_error(answer.status, answer.read(), 413, "payload_too_large")
            connection.close()

    def test_a_chunked_body_under_the_limit_is_read(self, hookd: HookdProcess) -> None:
        body = orjson.dumps({"name": "big.chunked"})
        connection = http.client.HTTPConnection("127.0.0.1", hookd.port, timeout=10)
        connection.request(
            "POST",
            "/v1/apps/default/event-types",
            body=iter([body[:5], body[5:]]),
            headers=AUTH,
            encode_chunked=True,
        )
        answer = connection.getresponse()
        assert answer.status == 201, answer.read()
        connection.close()


class TestHugeRequestHead:
    def test_a_100_kb_path_segment_gets_414_in_json(self, hookd: HookdProcess) -> None:
        path = "/v1/apps/" + "a" * 100_000
        r = requests.get(hookd.url + path, headers=AUTH, timeout=10)
        assert_error(r.status_code, r.content, 414, "uri_too_long")
        status, headers, body = raw_exchange(
            hookd.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        assert headers["content-type"] == "application/json"
        assert_error(status, body, 414, "uri_too_long")

    def test_huge_headers_get_431_in_json(self, hookd: HookdProcess) -> None:
        r = requests.get(
            hookd.url + "/v1/apps", headers={**AUTH, "X-Big": "b" * 100_000}, timeout=10
        )
        assert_error(r.status_code, r.content, 431, "headers_too_large")

    def test_a_malformed_request_gets_400_in_json(self, hookd: HookdProcess) -> None:
        status, headers, body = raw_exchange(hookd.port, b"NOT HTTP AT ALL\r\n\r\n")
        assert headers["connection"] == "close"
        assert_error(status, body, 400, "bad_request")

    def test_ordinary_requests_still_work_after_all_that(self, hookd: HookdProcess) -> None:
        r = requests.get(hookd.url + "/v1/apps?limit=10", headers=AUTH, timeout=10)
        assert r.status_code == 200, r.text
