"""A response that arrived while the process was paused is a response, not a timeout.

The event loop is blocked (as by SIGSTOP) from just after the request went out
until well past the attempt's timeout; the receiver (a thread) answered
meanwhile. When the loop runs again it sees the bytes and the expired timer at
once: the attempt is the receiver's 200 (issue #21, item 1). hookd runs on
uvloop, whose loop runs expired timers before reading sockets, so each case
runs on uvloop as well as on asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from hookd.config import Settings
from hookd.delivery.request import OutgoingRequest
from hookd.delivery.sender import Sender, Sent
from tests.support.receiver import Receiver, Reply

TIMEOUT = 0.4
Runner = Callable[[Coroutine[Any, Any, Sent]], Sent]
LOOPS = [pytest.param(uvloop.run, id="uvloop"), pytest.param(asyncio.run, id="asyncio")]


async def send(receiver: Receiver, *, pause: bool) -> Sent:
    request = OutgoingRequest(
        "POST", receiver.url + "/hook", {"content-type": "application/json"}, b"{}"
    )
    async with Sender.for_settings(Settings(dev=True), timeout=TIMEOUT) as sender:
        if pause:  # from 50 ms (the request is out) to 1.05 s (past the 0.4 s timeout)
            asyncio.get_running_loop().call_later(0.05, time.sleep, 1.0)
        return await sender.send(request)


@pytest.mark.parametrize("run", LOOPS)
def test_an_answer_that_arrived_during_a_pause_is_taken(receiver: Receiver, run: Runner) -> None:
    receiver.default = Reply(200, delay=0.1)
    sent = run(send(receiver, pause=True))
    assert sent.result.error_code is None, sent.result.error_message
    assert sent.result.status == 200
    assert len(receiver.received()) == 1


@pytest.mark.parametrize("run", LOOPS)
def test_no_answer_is_still_a_timeout_after_a_pause(receiver: Receiver, run: Runner) -> None:
    receiver.default = Reply(200, delay=5.0)
    began = time.monotonic()
    sent = run(send(receiver, pause=True))
    assert sent.result.error_code == "timeout"
    assert time.monotonic() - began < 2.0  # the pause and a short grace, not the 5 s


@pytest.mark.parametrize("run", LOOPS)
def test_a_timer_on_time_is_a_timeout_at_once(receiver: Receiver, run: Runner) -> None:
    receiver.default = Reply(200, delay=5.0)
    began = time.monotonic()
    sent = run(send(receiver, pause=False))
    assert sent.result.error_code == "timeout"
    assert TIMEOUT <= time.monotonic() - began < TIMEOUT + 0.3
