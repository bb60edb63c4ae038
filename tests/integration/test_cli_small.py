"""Small things a new user meets on the command line and in the README tour (issue #19)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hookd.domain import signing
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import free_port

README = Path(__file__).parent.parent.parent / "README.md"
ANSWER = {"id": "evt_1", "type": "job.success", "timestamp": "t", "deliveries": 1}


def hookd(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
    return subprocess.run(
        [sys.executable, "-m", "hookd", *args],
        env={**clean, "COLUMNS": "100", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def fake_hookd() -> Iterator[Receiver]:
    """A stand-in for hookd's API that answers every publish 202."""
    with Receiver() as rx:
        rx.set_handler(
            lambda _: Reply(202, {"content-type": "application/json"}, json.dumps(ANSWER).encode())
        )
        yield rx


class TestSend:
    @pytest.mark.parametrize("how", ["flag", "HOOKD_URL", "HOOKD_PORT"])
    def test_send_goes_to_the_url_it_is_given(
        self, fake_hookd: Receiver, tmp_path: Path, how: str
    ) -> None:
        args = ["send", "job.success", "--data", '{"n": 1}', "--key", "hk_test"]
        env: dict[str, str] = {}
        if how == "flag":
            args += ["--url", fake_hookd.url]
        elif how == "HOOKD_URL":
            env["HOOKD_URL"] = fake_hookd.url
        else:  # the port `make run PORT=…` (hookd serve --port) listens on
            env["HOOKD_PORT"] = str(fake_hookd.port)
        done = hookd(*args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        [request] = fake_hookd.wait_for(1)
        assert request.route == "/v1/apps/default/events"
        assert request.headers["authorization"] == "Bearer hk_test"
        assert request.json() == {"type": "job.success", "data": {"n": 1}}
        assert json.loads(done.stdout)["id"] == "evt_1"

    def test_an_unreachable_url_is_named(self, tmp_path: Path) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        done = hookd("send", "job.success", "--key", "k", "--url", url, cwd=tmp_path)
        assert done.returncode == 1 and f"cannot reach hookd at {url}" in done.stdout


class TestMigrate:
    def test_first_migrate_creates_the_schema_then_it_is_up_to_date(self, tmp_path: Path) -> None:
        db = f"sqlite:///{tmp_path / 'new.db'}"
        first = hookd("migrate", "--db", db, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert re.search(r"created database schema at revision \d{4}", first.stdout), first.stdout
        assert "up to date" not in first.stdout
        again = hookd("migrate", "--db", db, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert re.search(r"up to date \(revision \d{4}\)", again.stdout), again.stdout


class TestHelp:
    @pytest.mark.parametrize("command", [[], ["serve"], ["send"], ["migrate"], ["user", "create"]])
    def test_flags_show_no_type(self, tmp_path: Path, command: list[str]) -> None:
        done = hookd(*command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "--help" in done.stdout
        assert "<bool>" not in done.stdout
        help_line = next(line for line in done.stdout.splitlines() if "--help" in line)
        assert "Show this message and exit." in help_line


class TestReadmeTour:
    def test_publish_answer_shows_duplicate(self) -> None:
        tour = README.read_text()
        [answer] = re.findall(r"# -> 202 (\{.*\})", tour)
        assert '"duplicate": false' in answer

    def test_tour_names_the_url_option_of_send(self) -> None:
        assert "HOOKD_URL" in README.read_text()

    def test_readme_says_what_listen_prints(self, tmp_path: Path) -> None:
        port = free_port()
        secret = signing.generate_secret()
        out = tmp_path / "listen.out"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
        with out.open("w") as sink:
            listen = subprocess.Popen(
                [sys.executable, "-m", "hookd", "listen", "--port", str(port), "--secret", secret],
                env={**clean, "COLUMNS": "200"},
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        try:
            body = b'{"type": "job.success"}'
            stamp = int(time.time())
            headers = signing.signature_headers(["standard"], [secret], "evt_1", stamp, body)

            def answered() -> bool:
                try:
                    r = httpx.post(f"http://127.0.0.1:{port}/hook", content=body, headers=headers)
                except httpx.TransportError:
                    return False
                return r.status_code == 200

            eventually_sync(answered, timeout=20, what="hookd listen to answer")
            printed = (
                eventually_sync(
                    lambda: re.search(r"signature: verified[^\n]*", out.read_text()),
                    what="the signature line",
                )
                .group(0)
                .strip()
            )
        finally:
            listen.send_signal(signal.SIGINT)
            try:
                listen.wait(10)
            except subprocess.TimeoutExpired:
                listen.kill()
                listen.wait(5)
        assert printed == "signature: verified (standard)"
        assert f"`{printed}`" in README.read_text()
