"""The counting receiver of the fault suite: its own process, a hook port and a control port.

    python -m faults.receiver --port P --control C

Every request to the hook port is counted under its pair, `PATH|webhook-id`
(the webhook by its URL path, the event by its id), with its arrival time and
how it ended: *answered* (`200` written while the connection was open) or
*abandoned* (the client closed the connection before the answer, e.g. hookd
timed out, or was killed). How it answers is the mode, set on the control
port (which stays up while the hook port refuses):

    POST /mode   {"mode": "ok"}                         200 at once
                 {"mode": "delay", "low": 0.2, "high": 0.5}   200 after a random pause
                 {"mode": "slow", "late": 3.0, "hang": 6.0}   a pair's first request:
                     one in ten answered after `late` s, one in ten after `hang` s
                     (past the client's timeout); retries and the rest at once
                 {"mode": "refuse"}                     stop listening, drop connections
    GET  /pairs  {pair: [requests, answered, abandoned, first arrival, first answered arrival]}
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvloop

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_WEBHOOK_ID = re.compile(rb"\r\nwebhook-id:[ \t]*([^\r\n]+)", re.IGNORECASE)
_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


@dataclass
class Pair:
    requests: int = 0
    answered: int = 0
    abandoned: int = 0
    first: float = 0.0  # when its first request arrived
    answered_first: float = 0.0  # when the first request it answered arrived


@dataclass
class Mode:
    name: str = "ok"
    low: float = 0.0
    high: float = 0.0
    late: float = 0.0
    hang: float = 0.0

    def delay(self, pair_key: str, first: bool) -> float:
        """Return how long to wait before answering this request."""
        if self.name == "delay":
            return random.uniform(self.low, self.high)
        if self.name == "slow" and first:
            # Chosen by the event id, so a run can tell which pairs were made slow.
            digest = hashlib.blake2b(pair_key.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest, "big") % 10
            if bucket == 0:
                return self.hang
            if bucket == 5:
                return self.late
        return 0.0


@dataclass
class Ledger:
    pairs: dict[str, Pair] = field(default_factory=dict)
    mode: Mode = field(default_factory=Mode)
    connections: set[HookProtocol] = field(default_factory=set)


@dataclass
class _Pending:
    pair: Pair
    arrived: float
    ready: bool = False


class HookProtocol(asyncio.Protocol):
    """One hook connection: count each request, answer it in order when its pause is over."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._buffer = bytearray()
        self._queue: deque[_Pending] = deque()
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._ledger.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._ledger.connections.discard(self)
        for pending in self._queue:
            pending.pair.abandoned += 1
        self._queue.clear()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(_HEADER_END)) >= 0:
            head = bytes(self._buffer[: end + 2])
            found = _CONTENT_LENGTH.search(head)
            total = end + 4 + (int(found.group(1)) if found else 0)
            if len(self._buffer) < total:
                return
            del self._buffer[:total]
            self._request(head)

    def _request(self, head: bytes) -> None:
        parts = head.split(b" ", 2)
        path = parts[1].decode(errors="replace") if len(parts) > 2 else "/"
        found = _WEBHOOK_ID.search(head)
        key = f"{path}|{found.group(1).decode().strip() if found else ''}"
        pair = self._ledger.pairs.get(key)
        first = pair is None
        now = time.time()
        if pair is None:
            pair = self._ledger.pairs[key] = Pair(first=now)
        pair.requests += 1
        pending = _Pending(pair, now)
        self._queue.append(pending)
        delay = self._ledger.mode.delay(key, first)
        if delay <= 0:
            self._ready(pending)
        else:
            asyncio.get_running_loop().call_later(delay, self._ready, pending)

    def _ready(self, pending: _Pending) -> None:
        pending.ready = True
        while self._queue and self._queue[0].ready:
            done = self._queue.popleft()
            if self._transport is None or self._transport.is_closing():
                done.pair.abandoned += 1
            else:
                self._transport.write(_OK)
                if not done.pair.answered:
                    done.pair.answered_first = done.arrived
                done.pair.answered += 1


class Receiver:
    """The hook server (closed and reopened on the same port) and the control server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ledger = Ledger()
        self._server: asyncio.AbstractServer | None = None

    async def listen(self) -> None:
        if self._server is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: HookProtocol(self.ledger),
                "127.0.0.1",
                self.port,
                backlog=4096,
                reuse_address=True,
            )

    async def refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.ledger.connections):
            connection.abort()

    async def control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "GET" and path == "/pairs":
            pairs = self.ledger.pairs.items()
            return 200, {
                k: [p.requests, p.answered, p.abandoned, p.first, p.answered_first]
                for k, p in pairs
            }
        if method == "POST" and path == "/mode":
            given = orjson.loads(body or b"{}")
            mode = Mode(name=str(given.pop("mode", "ok")), **given)
            if mode.name not in ("ok", "delay", "slow", "refuse"):
                return 422, {"error": f"unknown mode {mode.name!r}"}
            if mode.name == "refuse":
                await self.refuse()
            else:
                await self.listen()
            self.ledger.mode = mode
            return 200, {"mode": mode.name}
        return 404, {"error": "not found"}


async def _control_connection(
    receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(_HEADER_END)
            found = _CONTENT_LENGTH.search(head)
            body = await reader.readexactly(int(found.group(1))) if found else b""
            method, path, _ = head.decode(errors="replace").split(" ", 2)
            status, answer = await receiver.control(method, path, body)
            payload = orjson.dumps(answer)
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, control_port: int) -> None:
    receiver = Receiver(port)
    await receiver.listen()
    control = await asyncio.start_server(
        lambda r, w: _control_connection(receiver, r, w), "127.0.0.1", control_port
    )
    print(f"receiver listening on 127.0.0.1:{port}, control on {control_port}", flush=True)
    async with control:
        await control.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.control))


if __name__ == "__main__":
    main()
