"""The webhook form: what it shows, what a submission turns into, where errors go.

Errors follow the GOV.UK pattern: a summary at the top linking to each field
and the message beside the field. The service's own validation (`Invalid`,
naming a field) is caught and placed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hookd.domain.models import EventType, Webhook

# Form field ids, by the API field the service names in its errors.
FIELD_IDS = {
    "name": "name",
    "url": "url",
    "secret": "secret",
    "events": "events",
    "enabled": "status",
}
LABELS = {
    "name": "Name",
    "url": "URL endpoint",
    "secret": "Secret",
    "events": "Events",
    "status": "Status",
}


@dataclass
class WebhookForm:
    name: str = ""
    url: str = ""
    secret: str = ""
    events: list[str] = field(default_factory=list)
    other_events: str = ""
    active: bool = True
    errors: dict[str, str] = field(default_factory=dict)  # field id -> message

    @classmethod
    def of(cls, webhook: Webhook, known: set[str]) -> WebhookForm:
        picked = [e for e in webhook.events if e in known]
        other = [e for e in webhook.events if e not in known]
        return cls(
            name=webhook.name,
            url=webhook.url,
            events=picked,
            other_events=", ".join(other),
            active=webhook.enabled,
        )

    @classmethod
    def posted(cls, form: dict[str, Any]) -> WebhookForm:
        events = form.get("events", [])
        if isinstance(events, str):
            events = [events]
        return cls(
            name=str(form.get("name", "")).strip(),
            url=str(form.get("url", "")).strip(),
            secret=str(form.get("secret", "")).strip(),
            events=[e for e in events if e],
            other_events=str(form.get("other_events", "")).strip(),
            active=form.get("status", "active") == "active",
        )

    def all_events(self) -> list[str]:
        extra = [e.strip() for e in self.other_events.replace("\n", ",").split(",")]
        return list(dict.fromkeys([*self.events, *(e for e in extra if e)]))

    def check(self) -> bool:
        """Check what the form itself requires; return True when there is nothing to fix."""
        if not self.name:
            self.errors["name"] = "Enter a name for the webhook"
        if not self.url:
            self.errors["url"] = "Enter the URL endpoint hookd sends requests to"
        if not self.all_events():
            self.errors["events"] = "Pick at least one event type, or type a pattern such as job.*"
        return not self.errors

    def fields(self, *, creating: bool) -> dict[str, Any]:
        """The API fields this form asks for (a secret left empty: none, or unchanged)."""
        out: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "events": self.all_events(),
            "enabled": self.active,
        }
        if self.secret:
            out["secret"] = self.secret
        elif creating:
            out["secret"] = None  # no secret: requests carry no signature header
        return out

    def place(self, api_field: str, message: str) -> None:
        """Put a service error beside its field (or in the summary when no field shows it)."""
        root = api_field.split(".")[0].split("[")[0]
        self.errors[FIELD_IDS.get(root, "summary")] = message[:1].upper() + message[1:]

    def summary(self) -> list[tuple[str, str]]:
        return [(fid, msg) for fid, msg in self.errors.items()]


def groups(types: list[EventType]) -> list[tuple[str, list[EventType]]]:
    """Event types by group, groups in name order (ungrouped last)."""
    by: dict[str, list[EventType]] = {}
    for et in types:
        by.setdefault(et.group or "Other events", []).append(et)
    return sorted(by.items(), key=lambda kv: (kv[0] == "Other events", kv[0]))


def patterns(types: list[EventType]) -> list[str]:
    """The wildcard patterns the form offers: `*` and one `noun.*` per noun."""
    nouns = sorted({et.name.split(".")[0] for et in types if "." in et.name})
    return ["*", *(f"{n}.*" for n in nouns)]
