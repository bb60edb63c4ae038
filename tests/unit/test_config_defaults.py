"""Defaults a new user gets without setting anything."""

from __future__ import annotations

import os

import pytest

from hookd.config import Settings, usable_cores


@pytest.fixture(autouse=True)
def no_hookd_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("HOOKD_")]:
        monkeypatch.delenv(name)


class TestDeliveryProcesses:
    def test_default_is_the_number_of_cores_hookd_may_run_on(self) -> None:
        assert Settings().delivery_processes == len(os.sched_getaffinity(0))

    def test_default_follows_the_affinity_not_the_machine(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
        assert Settings().delivery_processes == 3

    def test_default_is_at_least_1_and_at_most_64(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(200)))
        assert usable_cores() == 64
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set())
        assert usable_cores() == 1

    def test_without_affinity_the_cpu_count_counts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delattr(os, "sched_getaffinity")
        monkeypatch.setattr(os, "cpu_count", lambda: 6)
        assert usable_cores() == 6

    def test_the_environment_overrides_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HOOKD_DELIVERY_PROCESSES", "1")
        assert Settings().delivery_processes == 1

    @pytest.mark.parametrize("bad", ["0", "65", "two"])
    def test_out_of_range_is_refused_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch, bad: str
    ) -> None:
        monkeypatch.setenv("HOOKD_DELIVERY_PROCESSES", bad)
        with pytest.raises(ValueError, match="delivery_processes"):
            Settings()
