"""The receiving end of every benchmark: a raw asyncio/uvloop HTTP server.

    python -m benchmarks.sink --port P [--mode ok|hang]

`ok` answers every request `200` with an empty body as fast as Python can;
`hang` reads requests and never answers (an endpoint that times out).

Each request's receipt time (`time.time()`) and event id (the `webhook-id`
header, else the `"id"` at the head of the JSON body) are kept in memory.
Paths under `/_sink/` are the harness's controls, answered on the same port:

    GET  /_sink/stats      {"count", "first", "last"}: requests received so far
    GET  /_sink/receipts   [[event_id, t], …]: every receipt so far
    POST /_sink/reset      forget everything received
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from typing import Any

import orjson
import uvloop

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_WEBHOOK_ID = re.compile(rb"\r\nwebhook-id:[ \t]*([^\r\n]+)", re.IGNORECASE)
_BODY_ID = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([^"]+)"')
_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_CONTROL = b"/_sink/"


class Receipts:
    """What the sink has received: a count, first and last times, and (id, time) pairs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.ids: list[str] = []
        self.times: list[float] = []

    def add(self, event_id: str, now: float) -> None:
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        self.ids.append(event_id)
        self.times.append(now)


class SinkProtocol(asyncio.Protocol):
    """One connection: parse HTTP/1.1 requests with Content-Length, answer or hang."""

    def __init__(self, receipts: Receipts, hang: bool) -> None:
        self._receipts = receipts
        self._hang = hang
        self._buffer = bytearray()
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(_HEADER_END)
            if end < 0:
                return
            head = bytes(self._buffer[: end + 2])
            found = _CONTENT_LENGTH.search(head)
            length = int(found.group(1)) if found else 0
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            self._handle(head, body)

    def _handle(self, head: bytes, body: bytes) -> None:
        now = time.time()
        path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
        if path.startswith(_CONTROL):
            self._transport.write(self._control(path[len(_CONTROL) :]))
            return
        found = _WEBHOOK_ID.search(head) or _BODY_ID.search(body)
        self._receipts.add(found.group(1).decode().strip() if found else "", now)
        if not self._hang:
            self._transport.write(_OK)

    def _control(self, command: bytes) -> bytes:
        receipts = self._receipts
        if command == b"stats":
            payload = orjson.dumps(
                {"count": receipts.count, "first": receipts.first, "last": receipts.last}
            )
        elif command == b"receipts":
            payload = orjson.dumps(list(zip(receipts.ids, receipts.times, strict=True)))
        elif command == b"reset":
            receipts.reset()
            payload = b"{}"
        else:
            return b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
        head = (
            f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}"
        )
        return head.encode() + _HEADER_END + payload


async def serve(port: int, hang: bool) -> None:
    receipts = Receipts()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SinkProtocol(receipts, hang), "127.0.0.1", port, backlog=4096
    )
    print(f"sink listening on 127.0.0.1:{port} mode={'hang' if hang else 'ok'}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("ok", "hang"), default="ok")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.mode == "hang"))


if __name__ == "__main__":
    main()
