"""The console's pure parts: the dashboard's figures and the session cookie's attributes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hookd.console import stats
from hookd.console.session import PORTAL_COOKIE, USER_COOKIE, Session, Sessions
from hookd.domain.models import Delivery, DeliveryStatus

NOW = 1_800_001_800.0  # half past an hour


def delivery(status: DeliveryStatus, age: float, code: int | None = 200) -> Delivery:
    return Delivery(
        id=f"dlv_{age}",
        app_id="app_1",
        webhook_id="wh_1",
        event_id="evt_1",
        status=status,
        attempts=1,
        next_attempt_at=0,
        created_at=NOW - age,
        updated_at=NOW - age,
        last_status_code=code,
    )


class TestSummary:
    def test_rate_counts_finished_deliveries_of_the_last_day_only(self) -> None:
        found = [
            delivery(DeliveryStatus.FAILED, 10, 500),
            delivery(DeliveryStatus.SUCCEEDED, 20),
            delivery(DeliveryStatus.SUCCEEDED, 30),
            delivery(DeliveryStatus.PENDING, 40, 503),
            delivery(DeliveryStatus.FAILED, 2 * 86400),
        ]
        s = stats.summary(found, NOW)
        assert s.last_result == "Failed (HTTP 500)"
        assert s.last_ok is False
        assert s.success_rate == 2 / 3
        assert s.finished == 3

    def test_nothing_sent_yet(self) -> None:
        s = stats.summary([], NOW)
        assert (s.last_result, s.success_rate) == (None, None)


class TestHourly:
    def test_bars_stack_by_outcome_in_their_hour(self) -> None:
        chart = stats.hourly(
            [
                delivery(DeliveryStatus.SUCCEEDED, 60),
                delivery(DeliveryStatus.FAILED, 120),
                delivery(DeliveryStatus.SUCCEEDED, 5 * 3600),
                delivery(DeliveryStatus.SUCCEEDED, 30 * 3600),  # older than a day: left out
            ],
            NOW,
        )
        assert len(chart.bars) == 24
        assert chart.total == 3
        last = chart.bars[-1]
        assert (last.succeeded, last.failed) == (1, 1)
        assert last.ok_h == last.fail_h > 0
        assert last.fail_y + last.fail_h == last.ok_y  # failed sits on top of succeeded


def _cookie(dev: bool, session: Session) -> str:
    response = Response()
    Sessions("s" * 32, dev=dev).save(response, session)
    return response.headers["set-cookie"]


class TestSessionCookie:
    def test_outside_dev_the_session_cookie_is_secure_httponly_lax_and_expires(self) -> None:
        header = _cookie(False, Session(user_id="usr_1", changed=True))
        assert header.startswith(USER_COOKIE + "=")
        for part in ("HttpOnly", "Secure", "SameSite=lax", "Path=/console", "Max-Age=43200"):
            assert part in header

    def test_a_portal_cookie_is_scoped_to_its_app_and_framable(self) -> None:
        session = Session(link_id="pl_1", app_id="app_1", expires_at=NOW * 2, changed=True)
        header = _cookie(False, session)
        assert header.startswith(PORTAL_COOKIE + "=")
        for part in ("Path=/console/apps/app_1", "SameSite=none", "Secure", "Partitioned"):
            assert part in header

    def test_a_tampered_cookie_is_a_fresh_anonymous_session(self) -> None:
        sessions = Sessions("s" * 32, dev=True)
        response = Response()
        sessions.save(response, Session(user_id="usr_1", changed=True))
        value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        scope = {"type": "http", "headers": [(b"cookie", f"{USER_COOKIE}={value}x".encode())]}
        assert sessions.load(Request(scope)).user_id is None
        scope = {"type": "http", "headers": [(b"cookie", f"{USER_COOKIE}={value}".encode())]}
        assert sessions.load(Request(scope)).user_id == "usr_1"
