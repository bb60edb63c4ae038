"""Checkpoint SQLite's write-ahead log on a thread of its own, never in a commit.

By default SQLite checkpoints inside the COMMIT that takes the WAL past 1,000
pages: that commit copies the pages into the database file and waits for two
fsyncs. Measured in the latency benchmark, such commits took 26-352 ms, and
each one was a publish's or an attempt record's answer held up that long
(p99 at 200 events/s: 73-380 ms instead of single-digit milliseconds).

So hookd's write connections turn automatic checkpoints off
(`PRAGMA wal_autocheckpoint=0`) and every process with a SQLite store runs one
`Checkpointer`: a daemon thread with a connection of its own that runs
`PRAGMA wal_checkpoint(PASSIVE)` every INTERVAL seconds. A passive checkpoint
waits for no reader and no writer, and writers keep appending to the WAL while
it copies and syncs; the WAL starts over from its beginning at the first write
after a checkpoint that caught up. Several processes on one database each run
one; a checkpoint that finds another running simply returns.

Under sustained writes a passive checkpoint never catches up: some commit
always lands while it copies and syncs, so no writer ever starts the WAL over,
and the file grew without bound (348 MB in the 60 s of the latency benchmark).
Each new frame then extends the file, and when the WAL had been that long
before, a frame that half covers a page evicted from the page cache makes the
commit read it back from disk first; reads' lookups in the WAL index grow too.
So once the WAL holds RESTART_FRAMES frames, the Checkpointer syncs what the
passive checkpoint left unsynced (outside any lock), then runs a RESTART
checkpoint: it holds new writers back while it copies the last few frames and
waits, up to RESTART_WAIT seconds, for readers to leave the WAL; the next
commit starts the WAL over. A restart that cannot have the WAL to itself in
that time (a long read is still using it) gives up, and the next try waits
until the WAL has grown by another RESTART_FRAMES, so that a long read does
not cost writers RESTART_WAIT at every checkpoint.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from urllib.parse import quote

__all__ = ["INTERVAL", "Checkpointer"]

log = logging.getLogger(__name__)

INTERVAL = 0.2  # seconds between checkpoints
SLOW = 1.0  # a checkpoint longer than this is logged
RESTART_FRAMES = 4096  # about 16 MiB of WAL (4 KiB pages): past this, start it over
RESTART_WAIT = 0.05  # seconds a restart waits for the write lock, then for readers


class Checkpointer:
    """A thread that checkpoints one SQLite database's WAL until stopped."""

    def __init__(
        self, path: str, *, interval: float = INTERVAL, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self._path = path
        self._interval = interval
        self._restart_frames = restart_frames
        self._restart_at = restart_frames  # WAL frames at which the next restart is tried
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hookd-checkpoint", daemon=True)
        self.checkpoints = 0  # completed, for tests and curiosity
        self.restarts = 0  # RESTART checkpoints that had the WAL to themselves
        self.gave_up = 0  # RESTART checkpoints that found a reader still in the WAL

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint in progress, if any."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        started = time.perf_counter()
        busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        # Busy: another process is checkpointing, and frames is -1, not the WAL's size.
        if not busy and frames < self._restart_frames:
            self._restart_at = self._restart_frames  # it started over by itself
        elif not busy and frames >= self._restart_at:
            restarted = self._restart(conn)
            self._restart_at = self._restart_frames if restarted else frames + self._restart_frames
        took = time.perf_counter() - started
        if took > SLOW:
            log.warning("checkpointing the WAL (%d frames) took %.1f s", frames, took)
        self.checkpoints += 1

    def _restart(self, conn: sqlite3.Connection) -> bool:
        """Copy the rest of the WAL and have the next commit start it over; False if busy."""
        # A checkpoint that did not catch up synced the WAL but not the database
        # file; syncing both here leaves the restart, which holds writers back,
        # only the pages written since.
        for name in (self._path, f"{self._path}-wal"):
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        if busy:
            self.gave_up += 1
            return False
        self.restarts += 1
        return True

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stop.wait(self._interval):
            try:
                if conn is None:
                    # mode=rw: a database deleted meanwhile is not created anew.
                    uri = f"file:{quote(self._path)}?mode=rw"
                    conn = sqlite3.connect(
                        uri, uri=True, timeout=RESTART_WAIT, isolation_level=None
                    )
                self._checkpoint(conn)
            except (sqlite3.Error, OSError) as exc:
                # A locked or vanished file: try again next time, on a new connection.
                log.debug("checkpoint skipped: %s", exc)
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()
