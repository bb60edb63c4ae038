"""The failure digest tells owners what failed, where to look and how to recover."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hookd.domain.digest import FailureNote, compose_digest

BASE = "https://hookd.example.com"
T0 = 1_767_261_600.0  # 2026-01-01T10:00:00Z


def note(i: int, *, at: float | None = None, error: str = "404 Not Found") -> FailureNote:
    return FailureNote(
        delivery_id=f"dlv_{i}",
        event_id=f"evt_{i}",
        event_type="problem.update",
        at=T0 + 60 * i if at is None else at,
        error=error,
    )


def digest(**overrides: Any) -> tuple[str, str]:
    args: dict[str, Any] = {
        "webhook_id": "wh_1",
        "webhook_name": "problem.update",
        "webhook_url": "https://myserver.example.com/mywebhook",
        "failures": [note(0)],
        "disabled_reason": None,
        "base_url": BASE,
        "app": "default",
    }
    args.update(overrides)
    return compose_digest(**args)


class TestSubject:
    def test_names_the_count_of_failed_deliveries(self) -> None:
        subject, _ = digest(failures=[note(i) for i in range(7)])
        assert subject == '[hookd] 7 deliveries failed for webhook "problem.update"'

    def test_one_delivery_is_singular(self) -> None:
        subject, _ = digest()
        assert subject == '[hookd] 1 delivery failed for webhook "problem.update"'

    def test_says_disabled_when_the_webhook_was_disabled(self) -> None:
        subject, body = digest(disabled_reason="the endpoint answered 410 Gone")
        assert subject == '[hookd] webhook "problem.update" disabled'
        assert "the endpoint answered 410 Gone" in body

    def test_falls_back_to_the_id_when_the_name_is_empty(self) -> None:
        subject, _ = digest(webhook_name="")
        assert subject.endswith('webhook "wh_1"')

    def test_keeps_a_multi_line_name_on_one_line(self) -> None:
        subject, _ = digest(webhook_name="evil\r\nBcc: all@example.com")
        assert "\n" not in subject
        assert "\r" not in subject


class TestBody:
    def test_names_the_webhook(self) -> None:
        _, body = digest()
        assert "problem.update" in body
        assert "wh_1" in body
        assert "https://myserver.example.com/mywebhook" in body

    def test_strips_userinfo_query_and_fragment_from_the_url(self) -> None:
        _, body = digest(webhook_url="https://bob:s3cret@example.com:8443/hook?token=abc#frag")
        assert "https://example.com:8443/hook" in body
        for secret in ("bob", "s3cret", "token", "abc", "frag"):
            assert secret not in body

    def test_shows_an_unparsable_url_without_failing(self) -> None:
        _, body = digest(webhook_url="https://[::1/hook?token=abc")
        assert "token" not in body

    def test_links_every_listed_delivery(self) -> None:
        _, body = digest(failures=[note(1), note(2)])
        assert f"{BASE}/v1/apps/default/deliveries/dlv_1" in body
        assert f"{BASE}/v1/apps/default/deliveries/dlv_2" in body

    def test_lists_time_event_type_and_error(self) -> None:
        _, body = digest(failures=[note(0, error="timed out after 15 s")])
        line = next(line for line in body.splitlines() if "timed out" in line)
        assert "2026-01-01T10:00:00Z" in line
        assert "problem.update" in line

    def test_lists_newest_first(self) -> None:
        _, body = digest(failures=[note(2), note(9), note(5)])
        positions = [body.index(f"/deliveries/dlv_{i}\n") for i in (9, 5, 2)]
        assert positions == sorted(positions)

    def test_truncates_the_list_and_says_how_many_more(self) -> None:
        _, body = digest(failures=[note(i) for i in range(60)], max_listed=50)
        assert body.count("/deliveries/dlv_") == 50
        assert "… and 10 more" in body
        # The newest are the ones listed.
        assert "/deliveries/dlv_59\n" in body
        assert "/deliveries/dlv_9\n" not in body

    def test_does_not_say_more_when_everything_is_listed(self) -> None:
        _, body = digest(failures=[note(i) for i in range(3)], max_listed=3)
        assert "more" not in body

    def test_explains_how_to_recover_since_the_earliest_failure(self) -> None:
        failures = [note(i) for i in range(60)]
        _, body = digest(failures=failures, max_listed=5)
        lines = body.splitlines()
        post = lines.index(f"    POST {BASE}/v1/apps/default/webhooks/wh_1/recover")
        assert json.loads(lines[post + 1]) == {"since": "2026-01-01T10:00:00Z"}

    def test_explains_how_to_enable_a_disabled_webhook(self) -> None:
        _, body = digest(disabled_reason="20 failures in a row", base_url=BASE + "/")
        lines = body.splitlines()
        patch = lines.index(f"    PATCH {BASE}/v1/apps/default/webhooks/wh_1")
        assert json.loads(lines[patch + 1]) == {"enabled": True}

    def test_does_not_offer_to_enable_a_webhook_that_is_enabled(self) -> None:
        _, body = digest()
        assert "PATCH" not in body

    def test_a_disabled_webhook_without_failures_has_no_recover_section(self) -> None:
        _, body = digest(failures=[], disabled_reason="410 Gone")
        assert "recover" not in body
        assert "PATCH" in body

    def test_errors_cannot_forge_lines(self) -> None:
        _, body = digest(failures=[note(0, error="500\nPOST https://evil.example/recover")])
        assert not any(line.startswith("POST https://evil") for line in body.splitlines())


TEXT = st.text()
NOTES = st.builds(FailureNote, TEXT, TEXT, TEXT, st.floats(), TEXT)


class TestAnyInput:
    @given(
        webhook_id=TEXT,
        webhook_name=TEXT,
        webhook_url=TEXT,
        failures=st.lists(NOTES, max_size=8),
        disabled_reason=st.none() | TEXT,
        app=TEXT,
        max_listed=st.integers(-2, 10),
    )
    def test_never_raises_and_the_subject_is_a_valid_header(
        self,
        webhook_id: str,
        webhook_name: str,
        webhook_url: str,
        failures: list[FailureNote],
        disabled_reason: str | None,
        app: str,
        max_listed: int,
    ) -> None:
        subject, body = compose_digest(
            webhook_id=webhook_id,
            webhook_name=webhook_name,
            webhook_url=webhook_url,
            failures=failures,
            disabled_reason=disabled_reason,
            base_url=BASE,
            app=app,
            max_listed=max_listed,
        )
        message = EmailMessage()
        message["Subject"] = subject
        message.set_content(body)
        assert str(message["Subject"]) == subject
        listed = min(len(failures), max(0, max_listed))
        assert body.count(f"{BASE}/v1/apps/") >= listed
