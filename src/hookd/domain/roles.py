"""Who may do what: the role table, pure.

A person's rights in an app follow two roles: their role in the app's
organization and their role in the app itself. The table below is the whole
rule; `hookd.service.auth.Auth.app` is the one place that applies it.

    action           org role          app role        (both needed)
    view             owner|member|viewer  owner|viewer
    change           owner|member      owner|viewer
    publish          owner|member      owner|viewer
    manage_members   owner             any, or app owner with any org role

`view` covers reading webhooks, deliveries, attempts, events, event types and
previews; `change` covers everything that changes a webhook or sends from it
(create, update, delete, test, rotate the secret, retry, recover, cancel,
flush) and changes to event types; `publish` is publishing events.

App keys are not people: a key's own role says what it may do in its one app.
The instance administrator (the admin key, users marked admin) may do all.
"""

from __future__ import annotations

from enum import StrEnum


class OrgRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"


class AppRole(StrEnum):
    OWNER = "owner"
    VIEWER = "viewer"


class KeyRole(StrEnum):
    OWNER = "owner"  # everything inside its app, as app keys always could
    VIEWER = "viewer"  # read only
    PUBLISHER = "publisher"  # publish events, nothing else


class Action(StrEnum):
    VIEW = "view"
    CHANGE = "change"
    PUBLISH = "publish"
    MANAGE_MEMBERS = "manage_members"


_ANY_APP_ROLE = frozenset({AppRole.OWNER, AppRole.VIEWER})
_VIEWING_ORG = frozenset({OrgRole.OWNER, OrgRole.MEMBER, OrgRole.VIEWER})
_CHANGING_ORG = frozenset({OrgRole.OWNER, OrgRole.MEMBER})

# The table: for each action, the (org roles, app roles) pairs that allow it.
# A cell is allowed when the org role is in the first set and the app role in
# the second, for any of the pairs.
RULES: dict[Action, tuple[tuple[frozenset[OrgRole], frozenset[AppRole | None]], ...]] = {
    Action.VIEW: ((_VIEWING_ORG, frozenset(_ANY_APP_ROLE)),),
    Action.CHANGE: ((_CHANGING_ORG, frozenset(_ANY_APP_ROLE)),),
    Action.PUBLISH: ((_CHANGING_ORG, frozenset(_ANY_APP_ROLE)),),
    Action.MANAGE_MEMBERS: (
        (frozenset({OrgRole.OWNER}), frozenset({AppRole.OWNER, AppRole.VIEWER, None})),
        (_VIEWING_ORG, frozenset({AppRole.OWNER})),
    ),
}

KEY_RULES: dict[KeyRole, frozenset[Action]] = {
    KeyRole.OWNER: frozenset({Action.VIEW, Action.CHANGE, Action.PUBLISH}),
    KeyRole.VIEWER: frozenset({Action.VIEW}),
    KeyRole.PUBLISHER: frozenset({Action.PUBLISH}),
}


def allowed(org: OrgRole | None, app: AppRole | None, action: Action) -> bool:
    """Tell whether a person with these roles may do `action` in the app."""
    if org is None:
        return False
    return any(org in orgs and app in apps for orgs, apps in RULES[action])


def key_allowed(role: KeyRole, action: Action) -> bool:
    """Tell whether an app key with `role` may do `action` in its app."""
    return action in KEY_RULES[role]


def visible(org: OrgRole | None, app: AppRole | None) -> bool:
    """Tell whether the app exists for this person at all (else: 404)."""
    return allowed(org, app, Action.VIEW) or allowed(org, app, Action.MANAGE_MEMBERS)


def lacking(org: OrgRole | None, app: AppRole | None, action: Action) -> str:
    """Say in words which role a refused person lacks for `action`."""
    verb = {
        Action.VIEW: "viewing webhooks",
        Action.CHANGE: "changing webhooks",
        Action.PUBLISH: "publishing events",
        Action.MANAGE_MEMBERS: "managing the app's members",
    }[action]
    needs = []
    for orgs, apps in RULES[action]:
        org_words = "|".join(r.value for r in OrgRole if r in orgs)
        app_names = [r.value for r in AppRole if r in apps]
        app_words = "any" if None in apps else "|".join(app_names)
        needs.append(f"org role {org_words} and app role {app_words}")
    mine = f"org role {org.value if org else 'none'}, app role {app.value if app else 'none'}"
    return f"{verb} needs {' or '.join(needs)} (you have {mine})"
