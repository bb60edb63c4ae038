"""Background loops that outlive any one failure, yet always stop when asked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hookd.metrics import DATABASE_ERRORS
from hookd.outage import OUTAGE, unavailable


def stopping() -> bool:
    """Tell whether this task was asked to stop while an error was being raised.

    Closing a broken connection can turn the CancelledError of a stop into a
    driver error; a loop that only caught that error would never stop.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def every(
    interval: float, step: Callable[[], Awaitable[object]], *, what: str, log: logging.Logger
) -> None:
    """Run `step` every `interval` seconds until cancelled; a failure is logged, not fatal.

    While the database is unreachable the pause doubles (up to `MAX_BACKOFF`) and
    the outage is logged once for the process (`hookd.outage`), not once per try.
    """
    backoff = interval
    while True:
        try:
            await step()
        except Exception as exc:
            if stopping():
                raise asyncio.CancelledError from exc
            pause = failed(what, exc, log)
            backoff = min(max(backoff * 2, pause), MAX_BACKOFF) if pause else interval
            await asyncio.sleep(backoff if pause else interval)
            continue
        OUTAGE.succeeded()
        backoff = interval
        await asyncio.sleep(interval)


MAX_BACKOFF = 10.0  # the longest pause of a background loop while the database is down


def failed(what: str, exc: BaseException, log: logging.Logger) -> float:
    """Count and log a loop's failure; return a pause > 0 when the database is down."""
    if unavailable(exc):
        DATABASE_ERRORS.labels(what.split(":")[0]).inc()
        OUTAGE.failed(what, exc)
        return 1.0
    log.exception("%s failed; trying again", what)
    return 0.0


class Loop:
    """A background coroutine (`_run`) its owner starts and stops; named `name`."""

    name = "hookd-loop"
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError
