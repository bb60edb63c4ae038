"""Webhook health is a pure fold of attempts, judged against limits (domain/health.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hookd.domain.health import Health, Limits, Try, describe_duration, fold, judge, probe_delay

times = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
tries = st.lists(st.builds(Try, at=times, succeeded=st.booleans()), max_size=40)
healths = st.builds(
    Health,
    failure_streak=st.integers(0, 1000),
    failing_since=st.none() | times,
    last_success_at=st.none() | times,
    circuit_open_until=st.none() | times,
)
NEVER = Limits(0, 0, 0, 60)


def ordered(items: list[Try]) -> list[Try]:
    return sorted(items, key=lambda t: t.at)


class TestFold:
    @given(healths, tries)
    def test_the_streak_counts_failures_since_the_last_success(
        self, before: Health, items: list[Try]
    ) -> None:
        after = fold(before, items)
        seq = ordered(items)
        ok = [i for i, t in enumerate(seq) if t.succeeded]
        if ok:
            assert after.failure_streak == len(seq) - ok[-1] - 1
        else:
            assert after.failure_streak == before.failure_streak + len(seq)

    @given(healths, tries)
    def test_failing_since_is_the_first_failure_of_the_streak(
        self, before: Health, items: list[Try]
    ) -> None:
        after = fold(before, items)
        seq = ordered(items)
        ok = [i for i, t in enumerate(seq) if t.succeeded]
        streak = seq[ok[-1] + 1 :] if ok else seq
        if ok:
            assert after.failing_since == (streak[0].at if streak else None)
        elif before.failing_since is not None:
            assert after.failing_since == before.failing_since
        else:
            assert after.failing_since == (streak[0].at if streak else None)

    @given(tries)
    def test_from_a_fresh_webhook_a_streak_always_has_a_start(self, items: list[Try]) -> None:
        after = fold(Health(), items)
        assert (after.failure_streak == 0) == (after.failing_since is None)

    @given(healths, tries)
    def test_last_success_is_the_latest_success(self, before: Health, items: list[Try]) -> None:
        after = fold(before, items)
        successes = [t.at for t in items if t.succeeded]
        if before.last_success_at is not None:
            successes.append(before.last_success_at)
        assert after.last_success_at == (max(successes) if successes else None)

    @given(healths, tries, tries)
    def test_folding_in_two_batches_equals_folding_once(
        self, before: Health, first: list[Try], second: list[Try]
    ) -> None:
        # Batches arrive in time order: shift the second after the first.
        end = max((t.at for t in first), default=0.0)
        later = [Try(end + 1 + t.at, t.succeeded) for t in second]
        assert fold(fold(before, first), later) == fold(before, first + later)

    @given(healths, tries)
    def test_the_circuit_is_not_folded(self, before: Health, items: list[Try]) -> None:
        assert fold(before, items).circuit_open_until == before.circuit_open_until


class TestDisable:
    @given(st.integers(1, 50), st.integers(0, 60))
    def test_after_the_count_of_failed_attempts_in_a_row(self, limit: int, failures: int) -> None:
        verdict = judge(
            Health(),
            [Try(float(i), False) for i in range(failures)],
            Limits(limit, 0, 0, 60),
            now=100.0,
            last_error="500 Internal Server Error",
        )
        if failures >= limit:
            assert verdict.disable == (
                f"{failures} attempts in a row failed; the last error: 500 Internal Server Error"
            )
        else:
            assert verdict.disable is None

    def test_after_failing_for_the_window_without_a_success(self) -> None:
        day = 86400.0
        before = Health(failure_streak=3, failing_since=1000.0)
        limits = Limits(0, 5 * day, 0, 60)
        assert judge(before, [Try(1000 + day, False)], limits, now=1000 + day).disable is None
        verdict = judge(before, [Try(1000 + 5 * day, False)], limits, now=1000 + 5 * day)
        assert verdict.disable is not None
        assert verdict.disable.startswith("failing for 5 days without a success (since 1970-")

    def test_a_success_in_the_batch_resets_the_window(self) -> None:
        before = Health(failure_streak=3, failing_since=0.0)
        verdict = judge(before, [Try(10.0, True)], Limits(0, 5, 0, 60), now=10.0)
        assert verdict.disable is None and verdict.health.failing_since is None

    @given(healths, tries, times)
    def test_never_with_zero_limits(self, before: Health, items: list[Try], now: float) -> None:
        assert judge(before, items, NEVER, now=now).disable is None

    @given(healths, tries, times)
    def test_disabling_closes_the_circuit(
        self, before: Health, items: list[Try], now: float
    ) -> None:
        verdict = judge(before, items, Limits(1, 0, 1, 60), now=now)
        if verdict.disable is not None:
            assert verdict.health.circuit_open_until is None and not verdict.circuit_opened

    def test_a_webhook_may_set_its_own_thresholds(self) -> None:
        limits = Limits(100, 432000, 20, 60).for_webhook(3, None)
        assert limits.disable_after_failures == 3 and limits.disable_after_seconds == 432000
        assert Limits().for_webhook(None, None) == Limits()


class TestCircuit:
    @given(st.integers(1, 30), st.integers(1, 40), times)
    def test_opens_after_the_threshold_until_the_next_probe(
        self, threshold: int, failures: int, now: float
    ) -> None:
        limits = Limits(0, 0, threshold, 30.0)
        verdict = judge(Health(), [Try(float(i), False) for i in range(failures)], limits, now=now)
        assert verdict.circuit_opened == (failures >= threshold)
        wait = probe_delay(0, limits)  # the first probe
        assert verdict.health.circuit_open_until == (now + wait if failures >= threshold else None)

    @given(healths, tries, times)
    def test_a_success_last_closes_it(self, before: Health, items: list[Try], now: float) -> None:
        items = [*items, Try(2e9, True)]
        verdict = judge(before, items, Limits(0, 0, 1, 60), now=now)
        assert verdict.health.circuit_open_until is None
        assert verdict.circuit_closed == (before.circuit_open_until is not None)

    def test_a_failed_probe_opens_it_again(self) -> None:
        # Taking the probe at 100 moved circuit_open_until an interval on (store/health.py).
        before = Health(failure_streak=20, failing_since=0.0, circuit_open_until=160.0)
        verdict = judge(before, [Try(100.0, False)], Limits(0, 0, 20, 60), now=101.0)
        assert verdict.circuit_opened and verdict.health.circuit_open_until == 111.0  # 2nd: 10 s

    def test_attempts_in_flight_when_it_opened_do_not_delay_the_probe(self) -> None:
        before = Health(failure_streak=3, failing_since=0.0, circuit_open_until=105.0)
        verdict = judge(before, [Try(99.0, False)], Limits(0, 0, 3, 60), now=100.0)
        assert verdict.health.circuit_open_until == 105.0

    def test_failures_while_closed_open_it_for_the_first_probe(self) -> None:
        before = Health(failure_streak=2, failing_since=0.0)
        tries = [Try(float(i), False) for i in range(10)]  # in flight when it opened
        verdict = judge(before, tries, Limits(0, 0, 3, 60), now=100.0)
        assert verdict.health.circuit_open_until == 105.0


class TestProbeDelay:
    def test_starts_at_5_s_and_doubles_to_the_interval(self) -> None:
        limits = Limits(0, 0, 20, 60)
        waits = [probe_delay(failed, limits) for failed in range(7)]
        assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0]

    def test_an_interval_under_5_s_is_the_wait(self) -> None:
        assert probe_delay(0, Limits(0, 0, 20, 2.0)) == 2.0

    @given(st.integers(0, 10**9), st.integers(0, 50), st.floats(0.01, 1e6))
    def test_always_between_the_first_probe_and_the_interval(
        self, streak: int, threshold: int, interval: float
    ) -> None:
        wait = probe_delay(streak - threshold, Limits(0, 0, threshold, interval))
        assert min(5.0, interval) <= wait <= interval

    @given(healths, times)
    def test_no_attempts_change_nothing(self, before: Health, now: float) -> None:
        verdict = judge(before, [], Limits(1, 1, 1, 1), now=now)
        assert verdict.health == before and verdict.disable is None
        assert not verdict.circuit_opened and not verdict.circuit_closed


class TestDescribeDuration:
    def test_words(self) -> None:
        assert describe_duration(90) == "90 s"
        assert describe_duration(600) == "10 min"
        assert describe_duration(2 * 3600 + 300) == "2 h 5 min"
        assert describe_duration(5 * 86400) == "5 days"
        assert describe_duration(5 * 86400 + 7200) == "5 days 2 h"
        assert describe_duration(float("nan")) == "an unknown time"
