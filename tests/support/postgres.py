"""Run a throwaway PostgreSQL server for tests.

    PostgresServer            one postmaster in /dev/shm or /tmp/hookd-pg-XXXX, fast, not safe
      .start() / .stop()      initdb + pg_ctl start -w; pg_ctl stop -m immediate + rm -rf
      .url(database)          postgresql://postgres@127.0.0.1:PORT/DATABASE
      .create_database(...)   CREATE DATABASE ... [TEMPLATE ...], returns its url
      .drop_database(name)    DROP DATABASE ... WITH (FORCE)

PostgreSQL refuses to run as root, so when we are root every server command runs
as the ``postgres`` user through ``runuser``. ``scripts/ensure-postgres.sh``
installs the binaries and that user on a fresh machine.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import asyncpg

__all__ = ["PostgresServer", "PostgresUnavailable", "find_pg_bin", "run_outside_loop"]

PG_USER = "postgres"
ENSURE_SCRIPT = "scripts/ensure-postgres.sh"
_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_START_ATTEMPTS = 3  # a port found free may be taken before the server binds it
_READY_TIMEOUT = 30.0
_SHM_MIN_FREE = 1 << 30  # Docker's default 64 MiB /dev/shm is too small for a cluster

T = TypeVar("T")

# fsync/full_page_writes off: a crashed test server is thrown away, never recovered.
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries or the postgres user are missing."""


def find_pg_bin() -> Path:
    """Return the directory that holds initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    if override := os.environ.get("HOOKD_PG_BIN"):
        candidates.append(Path(override))
    if initdb := shutil.which("initdb"):
        # /usr/local/bin/initdb may be a lone symlink; the real dir has them all.
        candidates.append(Path(initdb).resolve().parent)
        candidates.append(Path(initdb).parent)
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates.extend(sorted(versioned, key=_major_version, reverse=True))
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _SERVER_BINARIES):
            return directory
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        f"/usr/lib/postgresql/*/bin; run `{ENSURE_SCRIPT}` (as root) to install them, "
        "or set HOOKD_PG_BIN to their directory."
    )


def _major_version(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else -1


def _scratch_root() -> str:
    """Pick where clusters live: tmpfs when it has room, since CREATE DATABASE makes ~300 files."""
    if override := os.environ.get("HOOKD_PG_TMPDIR"):
        return override
    # Measured on a Firecracker VM: copying a 300-file database took 440 ms on ext4, 14 ms on tmpfs.
    with contextlib.suppress(OSError):
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize >= _SHM_MIN_FREE and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    return "/tmp"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_outside_loop(func: Callable[[], T]) -> T:
    """Call *func*, in a private thread if an event loop is running in this one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return func()
    # Inside an async test asyncio.run would refuse to nest, so borrow a thread.
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="hookd-pg-admin")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return run_outside_loop(lambda: asyncio.run(make()))


class PostgresServer:
    """A PostgreSQL server in a temporary directory, reachable on 127.0.0.1."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.bin_dir = find_pg_bin()
        self.port = 0
        self.tempdir: Path | None = None
        self.startup_seconds: float | None = None
        self.major_version = 0
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._as_root = os.geteuid() == 0
        if self._as_root:
            try:
                self._owner = pwd.getpwnam(PG_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"no `{PG_USER}` system user to run the server as (PostgreSQL refuses "
                    f"to run as root); run `{ENSURE_SCRIPT}` to create it."
                ) from None

    @property
    def datadir(self) -> Path:
        assert self.tempdir is not None, "server not started"
        return self.tempdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.tempdir is not None, "server not started"
        return self.tempdir / "server.log"

    def url(self, database: str = "postgres") -> str:
        """Return the connection URL of *database* on this server."""
        return f"postgresql://{PG_USER}@{self.host}:{self.port}/{database}"

    def start(self) -> PostgresServer:
        """Create a cluster, start the server and wait until it accepts connections."""
        if self.tempdir is not None:
            return self
        began = time.perf_counter()
        # Mode 0755 so the postgres user can reach it when we are root.
        self.tempdir = Path(tempfile.mkdtemp(prefix="hookd-pg-", dir=_scratch_root()))
        atexit.register(self.stop)
        try:
            self.tempdir.chmod(0o755)
            if self._as_root:
                os.chown(self.tempdir, self._owner.pw_uid, self._owner.pw_gid)
            self._initdb()
            self._start_postmaster()
            self._start_watchdog()
            _run_async(lambda: self._wait_ready(time.monotonic() + _READY_TIMEOUT))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began
        return self

    def stop(self) -> None:
        """Stop the server at once and delete its directory; safe to call twice."""
        tempdir, self.tempdir = self.tempdir, None
        atexit.unregister(self.stop)
        if self._watchdog is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._watchdog.pid, signal.SIGTERM)
            self._watchdog.wait()
            self._watchdog = None
        if tempdir is None:
            return
        if (tempdir / "data" / "postmaster.pid").exists():
            subprocess.run(self._stop_command(tempdir), cwd="/", capture_output=True, check=False)
        shutil.rmtree(tempdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database *name*, copied from *template* if given; return its url."""
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_quote_ident(template)}"
        if self.major_version >= 15:
            # Copying files beats WAL-logging every page (PG 15's default): 23 ms vs 36 ms.
            sql += " STRATEGY FILE_COPY"
        _run_async(lambda: self._execute(sql))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database *name*, disconnecting anyone still using it."""
        sql = f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)"
        _run_async(lambda: self._execute(sql))

    def seal_template(self, name: str) -> None:
        """Mark *name* as a template nobody may connect to, closing any leftover sessions."""
        # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template.
        terminate = (
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            f" WHERE datname = {_quote_literal(name)} AND pid <> pg_backend_pid()"
        )
        seal = f"ALTER DATABASE {_quote_ident(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        _run_async(lambda: self._execute(seal, terminate))

    async def _execute(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.url())
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def _wait_ready(self, deadline: float) -> None:
        delay = 0.01
        while True:
            try:
                conn = await asyncpg.connect(
                    self.url(), timeout=max(deadline - time.monotonic(), 0.1)
                )
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                if time.monotonic() + delay > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on port {self.port} not ready: {exc}\n{self._log_tail()}"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
            else:
                self.major_version = conn.get_server_version().major
                await conn.close()
                return

    def _initdb(self) -> None:
        self._pg(
            "initdb", "-D", str(self.datadir), "-U", PG_USER, "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        # Loopback and the private socket only; initdb's default also trusts ::1.
        (self.datadir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )

    def _start_postmaster(self) -> None:
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = _free_port()
            settings = {
                **_SETTINGS,
                "port": str(self.port),
                "unix_socket_directories": f"'{self.tempdir}'",
            }
            with (self.datadir / "postgresql.auto.conf").open("w") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            self.logfile.unlink(missing_ok=True)
            started = self._pg(
                "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile),
                "-t", str(int(_READY_TIMEOUT)), "-w", "start",
                check=False,
            )  # fmt: skip
            if started.returncode == 0:
                return
            log = self._log_tail()
            port_taken = "could not bind" in log or "already in use" in log
            if not port_taken or attempt == _START_ATTEMPTS:
                raise RuntimeError(
                    f"pg_ctl start failed (exit {started.returncode}): "
                    f"{started.stdout}{started.stderr}\n{log}"
                )

    def _start_watchdog(self) -> None:
        """Stop the server if this process dies without running atexit (SIGKILL, os._exit)."""
        assert self.tempdir is not None
        script = (
            'pid=$1 dir=$2; shift 2; while kill -0 "$pid" 2>/dev/null; do sleep 1; done;'
            ' "$@" >/dev/null 2>&1; rm -rf "$dir"'
        )
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script, "hookd-pg-watchdog", str(os.getpid()), str(self.tempdir),
             *self._stop_command(self.tempdir)],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the test run must not kill it first
        )  # fmt: skip

    def _stop_command(self, tempdir: Path) -> list[str]:
        return self._command("pg_ctl", "-D", str(tempdir / "data"), "-m", "immediate", "-w", "stop")

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self._as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        return command

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd: the postgres user may not be allowed into ours.
        result = subprocess.run(
            self._command(program, *args),
            cwd=self.tempdir or "/tmp",
            env={**os.environ, "LC_ALL": "C"},
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} failed (exit {result.returncode}): {result.stdout}{result.stderr}"
            )
        return result

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError, AssertionError):
            return "\n".join(self.logfile.read_text().splitlines()[-lines:])
        return ""
