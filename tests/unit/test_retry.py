import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.domain.outcome import AttemptResult, Verdict, decide, describe
from hookd.domain.retry import RetryPolicy, parse_retry_after

SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
NOW = 1_800_000_000.0


class TestSchedule:
    @given(st.integers(min_value=1, max_value=len(SCHEDULE)), st.integers(0, 2**32))
    def test_delay_within_jitter_bounds(self, attempt: int, seed: int) -> None:
        policy = RetryPolicy(SCHEDULE, jitter=0.2)
        delay = policy.delay_after(attempt, rng=random.Random(seed))
        base = SCHEDULE[attempt - 1]
        assert delay is not None
        assert base * 0.8 <= delay <= base * 1.2

    def test_gives_up_after_the_last_entry(self) -> None:
        policy = RetryPolicy(SCHEDULE)
        assert policy.max_attempts == 8
        assert policy.delay_after(len(SCHEDULE) + 1) is None

    def test_jitter_spreads_delays(self) -> None:
        policy = RetryPolicy((100.0,), jitter=0.2)
        delays = {policy.delay_after(1, rng=random.Random(s)) for s in range(20)}
        assert len(delays) > 10

    @given(st.floats(min_value=0, max_value=10**7))
    def test_retry_after_is_bounded_by_the_longest_delay(self, wanted: float) -> None:
        policy = RetryPolicy(SCHEDULE)
        delay = policy.delay_after(1, retry_after=wanted)
        assert delay == min(wanted, 36000.0)

    def test_timeouts_back_off_at_least_a_little(self) -> None:
        policy = RetryPolicy((0.0, 100.0), jitter=0.0)
        assert policy.delay_after(1, timed_out=True) == 5.0


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("120", now=NOW) == 120.0

    def test_http_date(self) -> None:
        when = parse_retry_after("Thu, 01 Jan 2037 00:00:10 GMT", now=2114380800.0)
        assert when == pytest.approx(10.0)

    def test_date_in_the_past_means_now(self) -> None:
        assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=NOW) == 0.0

    def test_garbage_is_ignored(self) -> None:
        assert parse_retry_after("soon", now=NOW) is None
        assert parse_retry_after("", now=NOW) is None
        assert parse_retry_after(None, now=NOW) is None


class TestDecide:
    policy = RetryPolicy((10.0, 20.0), jitter=0.0)

    def test_2xx_succeeds(self) -> None:
        for status in (200, 201, 204, 299):
            assert (
                decide(AttemptResult(status), 1, self.policy, now=NOW).verdict is Verdict.SUCCEEDED
            )

    def test_410_disables(self) -> None:
        outcome = decide(AttemptResult(410), 1, self.policy, now=NOW)
        assert outcome.verdict is Verdict.DISABLE
        assert outcome.error == "410 Gone"

    def test_throttle_honours_retry_after(self) -> None:
        for status in (429, 502, 503, 504):
            outcome = decide(AttemptResult(status, retry_after="3"), 1, self.policy, now=NOW)
            assert outcome.verdict is Verdict.RETRY and outcome.retry_in == 3.0

    def test_retry_after_ignored_for_other_statuses(self) -> None:
        outcome = decide(AttemptResult(500, retry_after="3"), 1, self.policy, now=NOW)
        assert outcome.retry_in == 10.0

    def test_redirects_and_errors_retry_then_fail(self) -> None:
        for result in (
            AttemptResult(301),
            AttemptResult(404),
            AttemptResult(None, "timeout", "timed out after 15 s"),
        ):
            assert decide(result, 1, self.policy, now=NOW).verdict is Verdict.RETRY
            assert decide(result, 3, self.policy, now=NOW).verdict is Verdict.FAILED

    def test_words_for_people(self) -> None:
        assert describe(AttemptResult(404)) == "404 Not Found"
        assert describe(AttemptResult(599)) == "HTTP 599"
        assert (
            describe(AttemptResult(None, "timeout", "timed out after 15 s"))
            == "timed out after 15 s"
        )
        assert describe(AttemptResult(200)) is None
