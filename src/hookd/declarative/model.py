"""The shape of a hookd config file, its JSON Schema, and loading it with paths in errors.

The models check shape only (types, required keys, unknown keys). What a value
means (a URL hookd may reach, a filter, a template) is checked by the services
when the plan is made, so a file and the API refuse the same things.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hookd.domain import signing
from hookd.domain.matching import is_event_type_name
from hookd.domain.models import DEFAULT_MAX_IN_FLIGHT
from hookd.domain.ordering import ORDERINGS
from hookd.domain.secrets import is_secret_header
from hookd.service.webhooks import BATCH_ORDERS, CONTENT_TYPES, METHODS, MODES

__all__ = [
    "AppSpec",
    "Config",
    "ConfigError",
    "EventTypeSpec",
    "OrgSpec",
    "Problem",
    "SecretRef",
    "WebhookSpec",
    "load",
    "schema",
]

DEFAULT_APP = "default"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: where (`webhooks[2].url`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """A file that cannot be applied; `problems` name each place that is wrong."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretRef(_Strict):
    """A secret's value, read when the file is applied: an environment variable or a file."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["env"]}, {"required": ["file"]}]},
    )

    env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of an environment variable holding the value.",
    )
    file: str | None = Field(
        default=None,
        min_length=1,
        description="Path of a file holding the value (relative to the config file's folder);"
        " one trailing newline is dropped.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' and 'file'")
        return self


class OrgSpec(_Strict):
    """An organization, matched by its name."""

    name: str = Field(min_length=1, max_length=200)


class AppSpec(_Strict):
    """An app (tenant), matched by its uid."""

    uid: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(default="", max_length=200, description="Display name; default: the uid.")
    org: str | None = Field(
        default=None,
        description="The org it belongs to: an org's name (or id); default: the default org.",
    )


class EventTypeSpec(_Strict):
    """An event type, matched by (app, name)."""

    app: str = Field(default=DEFAULT_APP, description="The app's uid.")
    name: str = Field(max_length=128, description="noun.verb, e.g. invoice.paid.")
    group: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=65536)
    sample: dict[str, Any] | None = Field(
        default=None, description="Payload for test sends; default: hookd's sample."
    )

    @field_validator("name")
    @classmethod
    def _noun_verb(cls, name: str) -> str:
        if not is_event_type_name(name):
            raise ValueError(
                "must be noun.verb: lowercase letters, digits, '_' or '-', dot-separated"
            )
        return name


def _enum(values: tuple[str, ...], description: str) -> Any:
    return Field(default=values[0], description=description, json_schema_extra={"enum": [*values]})


class WebhookSpec(_Strict):
    """A webhook, matched by (app, name); by `id` where an app has several of one name.

    Absent fields take their defaults, so deleting a line resets that setting.
    The exception is `secret`: absent leaves the stored one as it is (on create
    hookd generates one); `null` means unsigned.
    """

    app: str = Field(default=DEFAULT_APP, description="The app's uid.")
    name: str = Field(min_length=1, max_length=200, description="Unique within the app.")
    id: str | None = Field(
        default=None,
        pattern=r"^wh_[0-9a-z]+$",
        description="Match this existing webhook instead of by name (then `name` may change).",
    )
    description: str = ""
    url: str
    events: list[str] = Field(min_length=1, description="Event type names or patterns (job.*).")
    enabled: bool = True
    method: str = _enum(METHODS, "HTTP method.")
    content_type: str = _enum(CONTENT_TYPES, "Request body type.")
    headers: dict[str, str | SecretRef] = Field(
        default_factory=dict,
        description="Extra request headers; secret ones (secret_headers, Authorization, names"
        " with token/secret/key/password) only by reference.",
    )
    body_template: str | None = Field(default=None, description="null: the standard envelope.")
    filter: dict[str, Any] | None = None
    secret: SecretRef | None = Field(
        default=None,
        description="Signing secret by reference; absent: keep (or generate on create);"
        " null: unsigned.",
    )
    mail_exceptions_to: str = Field(default="", description="Comma-separated e-mail addresses.")
    signing: list[str] = Field(
        default_factory=lambda: ["standard"],
        json_schema_extra={"items": {"enum": [*signing.SCHEMES]}},
    )
    secret_headers: list[str] = Field(
        default_factory=list, description="Header names whose values are secret (masked)."
    )
    disable_after_failures: int | None = None
    disable_after_seconds: float | None = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    rate_limit: float | None = Field(default=None, description="Requests per second at most.")
    mode: str = _enum(MODES, "immediate, or queued (batch delivery).")
    batch_order: str = _enum(BATCH_ORDERS, "Order of events in a batch.")
    batch_max_events: int = 100
    batch_interval: float | None = Field(
        default=None, description="Seconds between automatic flushes; null: on command only."
    )
    ordering: str = _enum(ORDERINGS, "none, or fifo: one at a time per line, in publish order.")
    ordering_key: str | None = Field(
        default=None, description="With fifo: the line an event joins, e.g. ${order.id}."
    )


class Config(_Strict):
    """A hookd config file: what should exist. `hookd apply` makes it so."""

    model_config = ConfigDict(extra="forbid", title="hookd config")

    version: Literal[1] = 1
    orgs: list[OrgSpec] = Field(default_factory=list)
    apps: list[AppSpec] = Field(default_factory=list)
    event_types: list[EventTypeSpec] = Field(default_factory=list)
    webhooks: list[WebhookSpec] = Field(default_factory=list)


def schema() -> dict[str, Any]:
    """Return the JSON Schema of a config file (the one shipped as schema.json)."""
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    out.update(Config.model_json_schema())
    return out


def schema_text() -> str:
    """Return the schema as the JSON text of schema.json."""
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"


def load(text: str) -> Config:
    """Parse YAML (or JSON) text into a Config; raise ConfigError naming every bad path."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(where, f"not valid YAML: {problem}")]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", "the file must be a mapping (orgs, apps, ...)")])
    problems = _inline_secrets(raw)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        inline = {p.path for p in problems}  # already said better than the type error
        found = [Problem(_path(e["loc"]), _message(e)) for e in exc.errors()]
        problems += [p for p in found if p.path not in inline]
        raise ConfigError(_unique(problems)) from exc
    problems += _duplicates(config)
    if problems:
        raise ConfigError(_unique(problems))
    return config


def _inline_secrets(raw: dict[str, Any]) -> list[Problem]:
    """Refuse secrets written into the file; only references may be committed to git."""
    problems = []
    hooks = raw.get("webhooks")
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if not isinstance(hook, dict):
            continue
        if isinstance(hook.get("secret"), str):
            problems.append(
                Problem(
                    f"webhooks[{i}].secret",
                    "inline secrets are refused; write {env: NAME} or {file: path}",
                )
            )
        listed = hook.get("secret_headers")
        listed = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
        headers = hook.get("headers")
        for name, value in (headers if isinstance(headers, dict) else {}).items():
            if isinstance(name, str) and isinstance(value, str) and is_secret_header(name, listed):
                problems.append(
                    Problem(
                        f"webhooks[{i}].headers.{name}",
                        "is a secret header: inline values are refused;"
                        " write {env: NAME} or {file: path}",
                    )
                )
    return problems


def _duplicates(config: Config) -> list[Problem]:
    problems = []
    keyed: list[tuple[str, list[Any]]] = [
        ("orgs", [o.name for o in config.orgs]),
        ("apps", [a.uid for a in config.apps]),
        ("event_types", [(e.app, e.name) for e in config.event_types]),
        # Webhooks sharing a name (as a few may, made through the API) are told apart by id.
        (
            "webhooks",
            [(w.app, "id", w.id) if w.id else (w.app, "name", w.name) for w in config.webhooks],
        ),
    ]
    for section, keys in keyed:
        seen: dict[Any, int] = {}
        for i, key in enumerate(keys):
            if key in seen:
                field = {"apps": "uid"}.get(section, key[1] if section == "webhooks" else "name")
                problems.append(
                    Problem(f"{section}[{i}].{field}", f"repeats {section}[{seen[key]}]")
                )
            seen.setdefault(key, i)
    return problems


# Pydantic puts the member of a union it tried into the location; a file has no such key.
_UNION_TAGS = frozenset({"str", "SecretRef", "dict[str,any]", "list[str]"})


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_TAGS or part.startswith(("function-", "json-or-python")):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "is not a setting hookd knows"
    if error["type"] == "missing":
        return "is required"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
