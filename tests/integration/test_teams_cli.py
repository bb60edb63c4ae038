"""`hookd user|org|member`: an operator bootstraps a team without curl."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from hookd import cli
from hookd.service.audit import AuditService
from hookd.service.auth import ADMIN, Auth
from hookd.service.people import PeopleService
from hookd.store import Store


def _hookd(db: str, *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli.app, [*args, "--db", db], input=input)
    assert result.exit_code == 0, result.output
    return result.output


class TestBootstrappingATeam:
    def test_org_user_and_roles_then_sign_in(self, tmp_path: Path) -> None:
        db = f"sqlite:///{tmp_path / 'hookd.db'}"
        org = re.findall(r"org (org_\w+)", _hookd(db, "org", "create", "Acme"))[0]
        out = _hookd(
            db,
            "user",
            "create",
            "--email",
            "Ada@Acme.test",
            "--name",
            "Ada",
            "--password",
            "--token",
            "laptop",
            input="correct horse\ncorrect horse\n",
        )
        assert "ada@acme.test" in out
        assert re.search(r"token: hk_\S+", out)
        assert "ada@acme.test" in _hookd(db, "user", "list")
        _hookd(db, "member", "set", "--user", "ada@acme.test", "--org", org, "--role", "owner")
        out = _hookd(
            db, "member", "set", "--user", "ada@acme.test", "--app", "default", "--role", "viewer"
        )
        assert "is viewer of default" in out
        assert "Acme" in _hookd(db, "org", "list")

    def test_a_wrong_role_is_refused_with_the_choices(self, tmp_path: Path) -> None:
        db = f"sqlite:///{tmp_path / 'hookd.db'}"
        _hookd(db, "user", "create", "--email", "b@x.test", "--name", "B")
        result = CliRunner().invoke(
            cli.app,
            [
                "member",
                "set",
                "--user",
                "b@x.test",
                "--app",
                "default",
                "--role",
                "boss",
                "--db",
                db,
            ],
        )
        assert result.exit_code == 2
        assert "owner, viewer" in result.output


class TestPasswords:
    async def test_sign_in_checks_the_argon2id_hash(self, store: Store) -> None:
        people = PeopleService(store, Auth(store, None), AuditService(store))
        user = await people.create_user(ADMIN, "Eve@x.test", "Eve", "s3cret-pass", False)
        assert (await people.authenticate("eve@x.test", "s3cret-pass")) == user
        assert await people.authenticate("eve@x.test", "wrong-pass") is None
        assert await people.authenticate("nobody@x.test", "s3cret-pass") is None
        stored = await store.people.password_hash("eve@x.test")
        assert stored is not None and stored[1] is not None
        assert stored[1].startswith("$argon2id$")
