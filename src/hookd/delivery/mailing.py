"""Tell a webhook's owners what failed: at most one e-mail digest per webhook per interval.

    notifications, written with each failure (store/health.py)
      ─▶ Notifier, every `tick` seconds:
           due      rows waiting at least one tick (so a burst lands in one e-mail),
                    and no digest to this webhook within `interval`
           claim    take the webhook's turn; of several processes exactly one wins
           compose  domain/digest.py: what failed, links, how to enable and recover
           send     hookd.mail, to `mail_exceptions_to`; then mark the rows sent

A broken mail server never touches delivery: the notifier is a task of its
own, a failed send leaves the rows unsent and gives the webhook's turn back
for a retry after RETRY_SECONDS, and the failure is logged and counted
(`hookd_mail_errors_total`).
"""

from __future__ import annotations

import logging
import time

from hookd.background import Loop, every
from hookd.config import Settings
from hookd.domain.digest import FailureNote, compose_digest
from hookd.mail import Mailer, MailError, parse_smtp_url
from hookd.metrics import MAIL_ERRORS, MAILS_SENT
from hookd.store import Store
from hookd.store.health import DELIVERY_FAILED, WEBHOOK_DISABLED
from hookd.store.notifications import Digest

__all__ = ["Notifier", "mailer_for"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 300.0  # after a failed send, the soonest the webhook's digest is tried again


def mailer_for(settings: Settings) -> Mailer | None:
    """Return the mailer HOOKD_SMTP_URL names, or None; ValueError says what is wrong."""
    if settings.smtp_url is None:
        return None
    try:
        return Mailer(parse_smtp_url(settings.smtp_url.get_secret_value()))
    except ValueError as exc:
        # The message never quotes the URL: it may hold a password.
        raise ValueError(f"HOOKD_SMTP_URL is not usable: {exc}") from None


class Notifier(Loop):
    """Mail failure digests from the notifications table, in the background."""

    name = "hookd-notifier"

    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        *,
        interval: float,
        base_url: str,
        tick: float | None = None,
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._interval = interval
        self._base_url = base_url
        self._tick = tick if tick is not None else min(max(interval / 10, 1.0), 30.0)

    async def run_once(self, now: float | None = None) -> int:
        """Send every digest that is due; return how many e-mails went out."""
        now = time.time() if now is None else now
        sent = 0
        due = await self._store.notifications.due(
            now=now, interval=self._interval, settle=self._tick
        )
        for webhook_id in due:
            digest = await self._store.notifications.claim(
                webhook_id, now=now, interval=self._interval
            )
            if digest is not None and await self._send(digest, now):
                sent += 1
        return sent

    async def _send(self, digest: Digest, now: float) -> bool:
        composed = self._compose(digest)
        if composed is None or not digest.recipients:
            # Nothing left to tell, or nobody to tell it to any more.
            await self._store.notifications.sent(digest, now=now)
            return False
        subject, text = composed
        try:
            await self._mailer.send(digest.recipients, subject, text)
        except MailError as exc:
            MAIL_ERRORS.inc()
            log.warning(
                "notifier: digest for webhook %s not sent (%s); trying again later",
                digest.webhook_id,
                exc,
            )
            await self._store.notifications.retry_later(
                digest, at=now + min(self._interval, RETRY_SECONDS), interval=self._interval
            )
            return False
        MAILS_SENT.inc()
        await self._store.notifications.sent(digest, now=time.time())
        return True

    def _compose(self, digest: Digest) -> tuple[str, str] | None:
        failures = [
            FailureNote(
                delivery_id=n.delivery_id or "",
                event_id=n.event_id or "",
                event_type=n.event_type or "",
                at=n.created_at,
                error=n.error or "",
            )
            for n in digest.notes
            if n.kind == DELIVERY_FAILED and n.delivery_id
        ]
        disabled = [n for n in digest.notes if n.kind == WEBHOOK_DISABLED]
        # Enabled again since: that part of the story is over.
        reason = None
        if disabled and not digest.enabled:
            reason = disabled[-1].error or digest.disabled_reason
        if not failures and reason is None:
            return None
        return compose_digest(
            webhook_id=digest.webhook_id,
            webhook_name=digest.name,
            webhook_url=digest.url,
            failures=failures,
            disabled_reason=reason,
            base_url=self._base_url,
            app=digest.app_id,
        )

    async def _run(self) -> None:
        await every(self._tick, self.run_once, what="notifier: looking for digests", log=log)
