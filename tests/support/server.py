"""Run `hookd serve` (or `hookd worker`) as a real subprocess for acceptance tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.polling import eventually_sync

ADMIN_KEY = "hk_acceptance_admin_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HookdProcess:
    """One hookd process on a free loopback port, its output captured to a file."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        *,
        command: str = "serve",
        admin_key: str | None = ADMIN_KEY,
        args: tuple[str, ...] = (),
        **settings: Any,
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.command = command
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = admin_key
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")},
            "HOOKD_DB": db_url,
            "HOOKD_DEV": "1",
            "HOOKD_HOST": "127.0.0.1",
            "HOOKD_PORT": str(self.port),
            "HOOKD_RETRY_SCHEDULE": "0.1,0.1,0.1",
            "HOOKD_RETRY_JITTER": "0",
            "HOOKD_REQUEST_TIMEOUT": "5",
            "HOOKD_LEASE_SECONDS": "10",
            "HOOKD_POLL_INTERVAL": "0.1",
            "HOOKD_SHUTDOWN_GRACE": "5",
        }
        if admin_key:
            self.env["HOOKD_ADMIN_KEY"] = admin_key
        for key, value in settings.items():
            self.env[f"HOOKD_{key.upper()}"] = str(value)
        self.log = workdir / f"hookd-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> HookdProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hookd", self.command, *self.args],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"hookd exited with {self.proc.returncode}:\n{self.output()}")
            if self.command == "worker":
                return "delivering from" in self.output()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        eventually_sync(ready, timeout=timeout, what=f"hookd {self.command} to be ready")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def printed_admin_key(self) -> str | None:
        found = re.findall(r"admin key: (hk_[A-Za-z0-9_-]+)", self.output())
        return found[-1] if found else None

    def client(self, key: str | None = None) -> httpx.Client:
        token = key or self.admin_key or self.printed_admin_key()
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """Kill -9: no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; return the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"hookd ignored SIGTERM:\n{self.output()}") from None
        return self.proc.returncode

    def __enter__(self) -> HookdProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
