"""`hookd apply -f` and `hookd export`: config kept in git, applied idempotently (issue 22.4)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from standardwebhooks.webhooks import Webhook as StandardWebhook
from typer.testing import CliRunner, Result

from hookd import cli
from hookd.config import Settings
from hookd.declarative.apply import apply
from hookd.declarative.export import export, to_yaml
from hookd.declarative.model import ConfigError, load, schema_text
from hookd.declarative.plan import Services
from hookd.delivery.ingest import EventIn, Ingest
from hookd.delivery.worker import Worker
from hookd.domain.models import MASK, Webhook
from hookd.store import Store
from tests.support.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
ENV = {"LEDGER_SECRET": SECRET, "LEDGER_AUTH": "Bearer s3cr3t-token", "AUDIT_SECRET": "plain-key"}


def config(url: str = "http://127.0.0.1:9/ledger") -> dict[str, Any]:
    """A file with every kind of object and most webhook settings."""
    return {
        "orgs": [{"name": "Acme"}],
        "apps": [{"uid": "billing", "name": "Billing", "org": "Acme"}],
        "event_types": [
            {
                "app": "billing",
                "name": "invoice.paid",
                "group": "Invoices",
                "description": "An invoice was paid.",
                "sample": {"invoice": {"id": "inv_1", "total": 42}},
            },
            {"app": "billing", "name": "invoice.voided", "group": "Invoices"},
        ],
        "webhooks": [
            {
                "app": "billing",
                "name": "ledger",
                "url": url,
                "events": ["invoice.paid"],
                "headers": {"X-Team": "finance", "Authorization": {"env": "LEDGER_AUTH"}},
                "secret": {"env": "LEDGER_SECRET"},
                "filter": {"invoice.total": {"$gt": 10}},
                "rate_limit": 5,
                "max_in_flight": 2,
                "mail_exceptions_to": "ops@acme.test",
            },
            {
                "app": "billing",
                "name": "audit",
                "url": "http://127.0.0.1:9/audit",
                "events": ["invoice.*"],
                "signing": ["hmac-sha256-base64"],
                "secret": {"env": "AUDIT_SECRET"},
                "mode": "queued",
                "batch_interval": 3600,
                "body_template": '{"kind": "${type}"}',
                "enabled": False,
            },
            {
                "name": "everything",
                "url": "http://127.0.0.1:9/all",
                "events": ["*"],
                "secret": None,
            },
        ],
    }


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def hookd(*args: str, env: dict[str, str] | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(cli.app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def apply_file(db: str, path: Path, *flags: str, env: dict[str, str] = ENV, code: int = 0) -> str:
    return hookd("apply", "-f", str(path), "--db", db, "--dev", *flags, env=env, code=code).output


def exported(db: str) -> str:
    return hookd("export", "--db", db).stdout


def stored(db: str) -> dict[str, Webhook]:
    """Every webhook as stored, by (app uid, name): to see what changed, updated_at included."""

    async def read() -> dict[str, Webhook]:
        store = await Store.open(db)
        try:
            out = {}
            for app in await store.apps.all():
                page = await store.webhooks.page(app.id, limit=100)
                out.update({f"{app.uid}/{w.name}": w for w in page.items})
            return out
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hookd.db'}"


class TestApplyIsIdempotent:
    def test_apply_creates_and_a_second_apply_changes_nothing(
        self, db_url: str, tmp_path: Path
    ) -> None:
        path = write(tmp_path / "hookd.yaml", config())
        out = apply_file(db_url, path)
        for line in (
            "+ create org Acme",
            "+ create app billing",
            "+ create event type billing/invoice.paid",
            "+ create webhook billing/ledger",
            "+ create webhook default/everything",
            "applied: 7 created, 0 updated, 0 deleted",
        ):
            assert line in out
        assert "s3cr3t-token" not in out and SECRET not in out
        before, state = stored(db_url), exported(db_url)
        assert before["billing/ledger"].secret == SECRET
        assert before["billing/ledger"].headers["Authorization"] == "Bearer s3cr3t-token"
        assert before["billing/audit"].mode == "queued"
        assert before["default/everything"].secret is None

        again = apply_file(db_url, path)
        assert again.strip() == "no changes"
        assert exported(db_url) == state
        after = stored(db_url)
        assert {k: w.updated_at for k, w in after.items()} == {
            k: w.updated_at for k, w in before.items()
        }

    def test_a_change_shows_in_dry_run_changes_nothing_then_applies(
        self, sqlite_db: str, tmp_path: Path
    ) -> None:
        path = write(tmp_path / "hookd.yaml", config())
        apply_file(sqlite_db, path)
        state = exported(sqlite_db)
        changed = config(url="http://127.0.0.1:9/ledger-v2")
        ledger = changed["webhooks"][0]
        del ledger["rate_limit"]  # back to the default: no limit
        ledger["headers"]["X-Region"] = "eu"
        write(path, changed)

        dry = apply_file(sqlite_db, path, "--dry-run")
        assert "~ update webhook billing/ledger" in dry
        assert 'url: "http://127.0.0.1:9/ledger" -> "http://127.0.0.1:9/ledger-v2"' in dry
        assert "rate_limit: 5.0 -> null" in dry
        assert '"X-Region": "eu"' in dry and MASK in dry and "s3cr3t-token" not in dry
        assert "dry run: 0 to create, 1 to update, 0 to delete; nothing was changed" in dry
        assert exported(sqlite_db) == state

        out = apply_file(sqlite_db, path)
        assert "applied: 0 created, 1 updated, 0 deleted" in out
        now = stored(sqlite_db)["billing/ledger"]
        assert now.url == "http://127.0.0.1:9/ledger-v2"
        assert now.rate_limit is None and now.headers["X-Region"] == "eu"
        assert apply_file(sqlite_db, path).strip() == "no changes"

    def test_a_new_secret_value_is_an_update_shown_without_values(
        self, sqlite_db: str, tmp_path: Path
    ) -> None:
        path = write(tmp_path / "hookd.yaml", config())
        apply_file(sqlite_db, path)
        rotated = {**ENV, "LEDGER_SECRET": OTHER_SECRET}
        out = apply_file(sqlite_db, path, env=rotated)
        assert "~ update webhook billing/ledger\n    secret: (changed)" in out
        assert OTHER_SECRET not in out and SECRET not in out
        assert stored(sqlite_db)["billing/ledger"].secret == OTHER_SECRET


class TestSecretsByReference:
    def test_an_inline_secret_is_refused_naming_its_path(
        self, sqlite_db: str, tmp_path: Path
    ) -> None:
        data = config()
        data["webhooks"][0]["secret"] = SECRET
        data["webhooks"][0]["headers"]["Authorization"] = "Bearer inline-token"
        out = apply_file(sqlite_db, write(tmp_path / "hookd.yaml", data), code=2)
        assert "webhooks[0].secret: inline secrets are refused" in out
        assert "webhooks[0].headers.Authorization: is a secret header" in out
        assert SECRET not in out and "inline-token" not in out
        assert "Input should be" not in out  # one clear line per place, not a type error too
        assert "webhooks:" not in exported(sqlite_db)  # nothing was made

    def test_a_missing_variable_or_file_is_named(self, sqlite_db: str, tmp_path: Path) -> None:
        data = config()
        data["webhooks"][1]["secret"] = {"file": "secrets/audit.txt"}
        out = apply_file(
            sqlite_db, write(tmp_path / "hookd.yaml", data), env={"LEDGER_AUTH": "x"}, code=2
        )
        assert "webhooks[0].secret.env: environment variable LEDGER_SECRET is not set" in out
        assert "webhooks[1].secret.file: cannot read secrets/audit.txt" in out

    async def test_an_env_secret_signs_and_a_file_header_arrives(
        self,
        store: Store,
        settings: Settings,
        receiver: Receiver,
        start_worker: Callable[..., Worker],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("LEDGER_SECRET", SECRET)
        (tmp_path / "auth.txt").write_text("Bearer from-a-file\n")
        data = config(url=f"{receiver.url}/ledger")
        data["webhooks"][0]["headers"]["Authorization"] = {"file": "auth.txt"}
        data["webhooks"][0]["filter"] = None
        data["webhooks"] = data["webhooks"][:1]
        await store.apps.ensure_default(time.time())
        services = Services.of(store, settings)
        plan = await apply(services, load(yaml.safe_dump(data)), base=tmp_path)
        assert plan.counts()["create"] == 5
        start_worker()
        app = await store.apps.get("billing")
        assert app is not None
        [published] = await Ingest(store, settings).publish(
            app.id, [EventIn("invoice.paid", {"invoice": {"total": 99}})]
        )
        [request] = await receiver.wait_for_async(1)
        assert request.path == "/ledger"
        assert request.headers["authorization"] == "Bearer from-a-file"
        assert request.headers["x-team"] == "finance"
        verified = StandardWebhook(SECRET).verify(request.body, request.headers)
        assert verified["id"] == published.event.id


class TestExport:
    def test_export_then_apply_on_a_fresh_database_reproduces_the_state(
        self, db_url: str, tmp_path: Path
    ) -> None:
        apply_file(db_url, write(tmp_path / "hookd.yaml", config()))
        text = exported(db_url)
        assert SECRET not in text and "s3cr3t-token" not in text and "plain-key" not in text
        data = yaml.safe_load(text)
        ledger = next(w for w in data["webhooks"] if w["name"] == "ledger")
        assert ledger["secret"] == {"env": "HOOKD_SECRET_BILLING_LEDGER"}
        assert ledger["headers"]["Authorization"] == {
            "env": "HOOKD_HEADER_BILLING_LEDGER_AUTHORIZATION"
        }
        file = tmp_path / "exported.yaml"
        hookd("export", "--db", db_url, "-o", str(file))
        assert file.read_text() == text
        fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
        env = {
            "HOOKD_SECRET_BILLING_LEDGER": SECRET,
            "HOOKD_HEADER_BILLING_LEDGER_AUTHORIZATION": ENV["LEDGER_AUTH"],
            "HOOKD_SECRET_BILLING_AUDIT": ENV["AUDIT_SECRET"],
        }
        out = apply_file(fresh, file, env=env)
        assert "applied: 7 created, 0 updated, 0 deleted" in out  # the default app exists
        assert exported(fresh) == text
        old, new = stored(db_url), stored(fresh)
        assert {k: (w.secret, w.headers) for k, w in new.items()} == {
            k: (w.secret, w.headers) for k, w in old.items()
        }
        assert apply_file(fresh, file, env=env).strip() == "no changes"


class TestPrune:
    def test_absent_objects_are_kept_unless_pruned(self, sqlite_db: str, tmp_path: Path) -> None:
        path = write(tmp_path / "hookd.yaml", config())
        apply_file(sqlite_db, path)
        smaller = config()
        smaller["webhooks"] = smaller["webhooks"][:1]
        smaller["event_types"] = smaller["event_types"][:1]
        write(path, smaller)
        kept = apply_file(sqlite_db, path)
        assert "no changes" in kept
        assert "2 webhooks or event types of these apps are not in the file" in kept

        dry = apply_file(sqlite_db, path, "--prune", "--dry-run")
        assert "- delete webhook billing/audit" in dry
        assert "- delete event type billing/invoice.voided" in dry
        assert "everything" not in dry  # the default app is no longer in the file: untouched
        assert set(stored(sqlite_db)) == {"billing/ledger", "billing/audit", "default/everything"}

        out = apply_file(sqlite_db, path, "--prune")
        assert "applied: 0 created, 0 updated, 2 deleted" in out
        assert set(stored(sqlite_db)) == {"billing/ledger", "default/everything"}
        assert apply_file(sqlite_db, path, "--prune").strip() == "no changes"

    def test_prune_refuses_to_delete_an_event_type_a_webhook_keeps(
        self, sqlite_db: str, tmp_path: Path
    ) -> None:
        path = write(tmp_path / "hookd.yaml", config())
        apply_file(sqlite_db, path)
        data = config()
        data["event_types"] = data["event_types"][1:]  # invoice.paid gone, ledger still on it
        out = apply_file(sqlite_db, write(path, data), "--prune", code=2)
        assert "webhooks[0].events[0]: --prune would delete event type 'invoice.paid'" in out


class TestValidation:
    def test_errors_name_the_path_in_the_file(self, sqlite_db: str, tmp_path: Path) -> None:
        data = config()
        del data["webhooks"][2]["url"]
        data["webhooks"][1]["retries"] = 3
        data["event_types"][1]["name"] = "Invoice Voided"
        out = apply_file(sqlite_db, write(tmp_path / "hookd.yaml", data), code=2)
        assert "webhooks[2].url: is required" in out
        assert "webhooks[1].retries: is not a setting hookd knows" in out
        assert "event_types[1].name: must be noun.verb" in out

    def test_the_services_rules_hold_with_the_path(self, sqlite_db: str, tmp_path: Path) -> None:
        data = config()
        data["webhooks"][0]["events"] = ["invoice.paid", "invoice.refunded"]
        data["webhooks"][2]["url"] = "ftp://example.com/x"
        data["webhooks"][1]["mode"] = "sometimes"
        data["apps"][0]["org"] = "Nobody"
        out = apply_file(sqlite_db, write(tmp_path / "hookd.yaml", data), code=2)
        assert "webhooks[0].events[1]: unknown event type 'invoice.refunded'" in out
        assert "webhooks[2].url:" in out
        assert "webhooks[1].mode: must be one of immediate, queued" in out
        assert "apps[0].org: no org 'Nobody'" in out
        assert "webhooks:" not in exported(sqlite_db)

    def test_yaml_errors_give_the_line(self, sqlite_db: str, tmp_path: Path) -> None:
        path = tmp_path / "hookd.yaml"
        path.write_text("webhooks:\n  - name: a\n    url: [unclosed\n")
        out = apply_file(sqlite_db, path, code=2)
        assert "line " in out and "not valid YAML" in out

    def test_the_schema_ships_and_is_printed(self) -> None:
        shipped = Path(cli.__file__).parent / "declarative" / "schema.json"
        assert shipped.read_text() == schema_text()
        assert hookd("apply", "--schema").stdout == schema_text()
        assert hookd("export", "--schema").stdout == schema_text()
        schema = json.loads(schema_text())
        hook = schema["$defs"]["WebhookSpec"]
        assert {"name", "url", "events"} <= set(hook["required"])
        assert hook["additionalProperties"] is False


class TestMatching:
    async def test_webhooks_sharing_a_name_are_matched_by_id(
        self, store: Store, settings: Settings, tmp_path: Path
    ) -> None:
        app = await store.apps.ensure_default(time.time())
        services = Services.of(store, settings)
        await services.event_types.create(app, "job.done", "", "", None)
        first = await services.webhooks.create(
            app, {"name": "dup", "url": "http://127.0.0.1:9/a", "events": ["job.done"]}
        )
        await services.webhooks.create(
            app, {"name": "dup", "url": "http://127.0.0.1:9/b", "events": ["job.done"]}
        )
        data = yaml.safe_load(to_yaml(await export(services)))
        assert [w.get("id") is not None for w in data["webhooks"]] == [True, True]
        assert [w["secret"] for w in data["webhooks"]] == [
            {"env": "HOOKD_SECRET_DEFAULT_DUP"},
            {"env": "HOOKD_SECRET_DEFAULT_DUP_2"},
        ]
        for hook in data["webhooks"]:
            del hook["secret"]  # absent: the stored secrets stay as they are
        plan = await apply(services, load(yaml.safe_dump(data)), base=tmp_path)
        assert plan.empty

        data["webhooks"][0]["url"] = "http://127.0.0.1:9/a2"
        plan = await apply(services, load(yaml.safe_dump(data)), base=tmp_path)
        assert [(c.action, c.target) for c in plan.changes] == [("update", first.id)]
        assert (await services.webhooks.get(app, first.id)).url == "http://127.0.0.1:9/a2"

        del data["webhooks"][0]["id"], data["webhooks"][1]
        with pytest.raises(ConfigError) as caught:
            await apply(services, load(yaml.safe_dump(data)), base=tmp_path)
        assert "webhooks[0].name: 2 webhooks of app 'default' are named 'dup'" in str(caught.value)

    async def test_a_webhook_hookd_disabled_stays_disabled_unless_the_file_says_enabled(
        self, store: Store, settings: Settings, tmp_path: Path
    ) -> None:
        app = await store.apps.ensure_default(time.time())
        services = Services.of(store, settings)
        file = {"webhooks": [{"name": "flaky", "url": "http://127.0.0.1:9/x", "events": ["*"]}]}
        await apply(services, load(yaml.safe_dump(file)), base=tmp_path)
        [hook] = (await services.webhooks.page(app, limit=10, after=None)).items
        changes = {"enabled": False, "disabled_reason": "410 Gone"}
        await store.webhooks.update(app.id, hook.id, changes, time.time())

        plan = await apply(services, load(yaml.safe_dump(file)), base=tmp_path)
        assert plan.empty and "disabled by hookd (410 Gone)" in plan.notes[0]
        assert not (await services.webhooks.get(app, hook.id)).enabled

        file["webhooks"][0]["enabled"] = True
        plan = await apply(services, load(yaml.safe_dump(file)), base=tmp_path)
        assert [str(f) for f in plan.changes[0].fields] == ["enabled: false -> true"]
        assert (await services.webhooks.get(app, hook.id)).enabled

    def test_an_app_is_renamed_and_moved_to_another_org(
        self, sqlite_db: str, tmp_path: Path
    ) -> None:
        path = write(tmp_path / "hookd.yaml", config())
        apply_file(sqlite_db, path)
        data = config()
        data["orgs"].append({"name": "Globex"})
        data["apps"][0].update(name="Billing (EU)", org="Globex")
        out = apply_file(sqlite_db, write(path, data))
        assert "+ create org Globex" in out
        assert '~ update app billing\n    name: "Billing" -> "Billing (EU)"' in out
        assert 'org: "Acme" -> "Globex"' in out
        state = yaml.safe_load(exported(sqlite_db))
        assert {"uid": "billing", "name": "Billing (EU)", "org": "Globex"} in state["apps"]
        assert apply_file(sqlite_db, path).strip() == "no changes"

    def test_the_file_covers_every_webhook_setting_the_service_takes(self) -> None:
        # A setting added to the service but not to the file would be lost by export/apply.
        from hookd.declarative.plan import WEBHOOK_FIELDS
        from hookd.service.webhooks import _EDITABLE

        assert set(WEBHOOK_FIELDS) == set(_EDITABLE) - {"secret"}
