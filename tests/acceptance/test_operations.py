"""What an operator touches: health, metrics, docs, and the CLI around serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.acceptance.conftest import create_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


class TestObservability:
    def test_healthz_needs_no_key(self, hookd: HookdProcess) -> None:
        r = httpx.get(f"{hookd.url}/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}

    def test_metrics_count_what_happened(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver
    ) -> None:
        # One delivery process: a child's attempts are counted in the child's /metrics.
        hookd = hookd_factory(delivery_processes=1).start()
        with hookd.client() as api:
            receiver.script(Reply(500))
            create_webhook(api, receiver.url)
            for _ in range(3):
                api.post("/v1/apps/default/events", json={"type": "job.success"})
            receiver.wait_for(4)

            def settled() -> str | None:
                text = httpx.get(f"{hookd.url}/metrics").text
                done = 'hookd_attempts_total{outcome="succeeded"} 3.0' in text
                return text if done else None

            text = eventually_sync(settled, what="three successes in /metrics")
            assert metric(text, "hookd_events_ingested_total") == 3
            assert metric(text, 'hookd_attempts_total{outcome="retry"}') == 1
            assert metric(text, "hookd_attempt_duration_seconds_count") == 4
            assert metric(text, "hookd_deliveries_pending") == 0


class TestDocs:
    def test_docs_page_and_assets_come_from_hookd_itself(self, hookd: HookdProcess) -> None:
        page = httpx.get(f"{hookd.url}/docs").text
        assert "cdn" not in page.lower() and "/docs-assets/swagger-ui-bundle.js" in page
        js = httpx.get(f"{hookd.url}/docs-assets/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        spec = httpx.get(f"{hookd.url}/openapi.json").json()
        assert "/v1/apps/{app}/webhooks" in spec["paths"]
        # Publishing answers without a response-model pass; its answer is still documented.
        for path, model in (("", "PublishedOut"), ("/batch", "PublishedBatchOut")):
            answer = spec["paths"][f"/v1/apps/{{app}}/events{path}"]["post"]["responses"]["202"]
            assert answer["content"]["application/json"]["schema"]["$ref"].endswith(model)


class TestCli:
    def _run(self, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hookd", *args],
            env={**os.environ, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_send_publishes_through_the_api(
        self, hookd: HookdProcess, api: httpx.Client, receiver: Receiver, tmp_path: Path
    ) -> None:
        create_webhook(api, receiver.url)
        env = {"HOOKD_URL": hookd.url, "HOOKD_API_KEY": hookd.admin_key or ""}
        done = self._run("send", "job.success", "--data", '{"n": 1}', env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["deliveries"] == 1
        [request] = receiver.wait_for(1)
        assert request.json()["data"] == {"n": 1}
        bad = self._run("send", "job.success", "--data", "{nope", env=env, cwd=tmp_path)
        assert bad.returncode == 2 and "not JSON" in bad.stdout

    def test_migrate_creates_the_schema(self, tmp_path: Path) -> None:
        db = f"sqlite:///{tmp_path / 'fresh.db'}"
        done = self._run("migrate", "--db", db, env={}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "created database schema at revision" in done.stdout
        assert (tmp_path / "fresh.db").exists()
