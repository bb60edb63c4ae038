"""Figures the dashboard shows, computed from a webhook's recent deliveries.

Pure: takes deliveries (newest first, as the store lists them) and the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookd.domain.models import Delivery, DeliveryStatus

DAY = 86400.0
HOURS = 24


@dataclass(frozen=True, slots=True)
class Summary:
    last_result: str | None  # "200 OK"-like words, or None when nothing was sent yet
    last_at: float | None
    last_ok: bool | None
    success_rate: float | None  # over the finished deliveries of the last 24 h; None: none
    finished: int


def summary(deliveries: list[Delivery], now: float) -> Summary:
    """Say how the webhook's latest delivery went and its success rate over the last 24 h."""
    tried = [d for d in deliveries if d.attempts > 0]
    last = tried[0] if tried else None
    recent = [
        d
        for d in deliveries
        if d.created_at >= now - DAY
        and d.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)
    ]
    ok = sum(1 for d in recent if d.status is DeliveryStatus.SUCCEEDED)
    return Summary(
        last_result=result_words(last) if last else None,
        last_at=last.updated_at if last else None,
        last_ok=(last.status is DeliveryStatus.SUCCEEDED) if last else None,
        success_rate=(ok / len(recent)) if recent else None,
        finished=len(recent),
    )


def result_words(d: Delivery) -> str:
    """Describe a delivery's outcome in words: '200 · succeeded', 'failed: timeout'."""
    code = f"HTTP {d.last_status_code}" if d.last_status_code is not None else None
    if d.status is DeliveryStatus.SUCCEEDED:
        return f"Succeeded ({code})" if code else "Succeeded"
    if d.status is DeliveryStatus.FAILED:
        return f"Failed ({code})" if code else "Failed"
    if d.status is DeliveryStatus.PENDING:
        return f"Retrying ({code})" if code else "Retrying"
    return d.status.value.capitalize()


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    hour: str
    succeeded: int
    failed: int
    other: int
    ok_y: float
    ok_h: float
    fail_y: float
    fail_h: float
    other_y: float
    other_h: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bar_width: float
    peak: int
    bars: list[Bar]
    total: int


def hourly(deliveries: list[Delivery], now: float, *, height: int = 120) -> Chart:
    """Count deliveries per hour of the last 24 h by outcome, as stacked bars to draw."""
    this_hour = now // 3600  # the last bar is the hour now running
    counts = [[0, 0, 0] for _ in range(HOURS)]
    for d in deliveries:
        slot = int(this_hour - d.created_at // 3600)
        if 0 <= slot < HOURS:
            column = HOURS - 1 - slot
            kind = (
                0
                if d.status is DeliveryStatus.SUCCEEDED
                else 1
                if d.status is DeliveryStatus.FAILED
                else 2
            )
            counts[column][kind] += 1
    peak = max((sum(c) for c in counts), default=0) or 1
    width, step = 480, 20.0
    scale = (height - 4) / peak
    bars = []
    for i, (ok, failed, other) in enumerate(counts):
        ok_h, fail_h, other_h = ok * scale, failed * scale, other * scale
        base = float(height)
        hour_start = (this_hour - (HOURS - 1 - i)) * 3600
        bars.append(
            Bar(
                x=i * step + 2,
                hour=f"{int(hour_start // 3600 % 24):02d}:00 UTC",
                succeeded=ok,
                failed=failed,
                other=other,
                ok_y=base - ok_h,
                ok_h=ok_h,
                fail_y=base - ok_h - fail_h,
                fail_h=fail_h,
                other_y=base - ok_h - fail_h - other_h,
                other_h=other_h,
            )
        )
    total = sum(sum(c) for c in counts)
    return Chart(width=width, height=height, bar_width=step - 4, peak=peak, bars=bars, total=total)
