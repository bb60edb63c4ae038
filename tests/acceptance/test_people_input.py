"""Bad text in the people and portal bodies is a 422 naming the field, on both backends.

PostgreSQL text cannot hold NUL, and a lone surrogate is not Unicode: before
these bodies shared the API's `Strict` base, a NUL in a user's or an org's
name was stored on SQLite and a 500 on PostgreSQL.
"""

from __future__ import annotations

import httpx

CASES = [
    ("/v1/users", b'{"email": "a@example.com", "name": "x\\u0000y"}', "name"),
    ("/v1/users", b'{"email": "a\\ud800@example.com", "name": "x"}', "email"),
    ("/v1/orgs", b'{"name": "acme\\u0000"}', "name"),
    ("/v1/orgs", b'{"name": "\\udfff"}', "name"),
    ("/v1/apps/default/portal-links", b'{"frame_origin": "\\ud800"}', "frame_origin"),
]


def test_nul_and_lone_surrogates_are_refused_naming_the_field(api: httpx.Client) -> None:
    for path, body, field in CASES:  # one server for all cases
        r = api.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["error"]["details"][0]["field"] == field, (path, body)
    assert api.get("/v1/orgs").status_code == 200  # and nothing half-stored broke a list
