"""The role table, cell by cell, written out as the product brief states it."""

from __future__ import annotations

import itertools

import pytest

from hookd.domain.roles import (
    Action,
    AppRole,
    KeyRole,
    OrgRole,
    allowed,
    key_allowed,
    lacking,
    visible,
)

OW, M, V = OrgRole.OWNER, OrgRole.MEMBER, OrgRole.VIEWER
AO, AV = AppRole.OWNER, AppRole.VIEWER

# (org role, app role) -> (view, change, publish, manage_members)
EXPECTED: dict[tuple[OrgRole | None, AppRole | None], tuple[bool, bool, bool, bool]] = {
    (OW, AO): (True, True, True, True),
    (OW, AV): (True, True, True, True),
    (OW, None): (False, False, False, True),
    (M, AO): (True, True, True, True),
    (M, AV): (True, True, True, False),
    (M, None): (False, False, False, False),
    (V, AO): (True, False, False, True),
    (V, AV): (True, False, False, False),
    (V, None): (False, False, False, False),
    (None, AO): (False, False, False, False),
    (None, AV): (False, False, False, False),
    (None, None): (False, False, False, False),
}
ACTIONS = (Action.VIEW, Action.CHANGE, Action.PUBLISH, Action.MANAGE_MEMBERS)


class TestTheTable:
    def test_every_role_pair_is_written_out(self) -> None:
        pairs = set(itertools.product([*OrgRole, None], [*AppRole, None]))
        assert set(EXPECTED) == pairs

    @pytest.mark.parametrize(("org", "app"), list(EXPECTED))
    def test_every_cell(self, org: OrgRole | None, app: AppRole | None) -> None:
        got = tuple(allowed(org, app, action) for action in ACTIONS)
        assert got == EXPECTED[(org, app)]

    def test_every_action_is_in_the_table(self) -> None:
        assert set(ACTIONS) == set(Action)

    @pytest.mark.parametrize(("org", "app"), list(EXPECTED))
    def test_an_app_exists_for_whoever_may_view_it_or_manage_its_members(
        self, org: OrgRole | None, app: AppRole | None
    ) -> None:
        view, _, _, manage = EXPECTED[(org, app)]
        assert visible(org, app) == (view or manage)


class TestKeys:
    @pytest.mark.parametrize(
        ("role", "may"),
        [
            (KeyRole.OWNER, {Action.VIEW, Action.CHANGE, Action.PUBLISH}),
            (KeyRole.VIEWER, {Action.VIEW}),
            (KeyRole.PUBLISHER, {Action.PUBLISH}),
        ],
    )
    def test_a_key_does_what_its_role_says(self, role: KeyRole, may: set[Action]) -> None:
        assert {a for a in Action if key_allowed(role, a)} == may


class TestRefusals:
    def test_the_refusal_names_the_role_lacking(self) -> None:
        words = lacking(V, AV, Action.CHANGE)
        assert "org role owner|member" in words
        assert "you have org role viewer, app role viewer" in words
