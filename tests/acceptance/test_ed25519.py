"""Asymmetric signatures end to end: a receiver verifies with the public key only."""

from __future__ import annotations

import base64

import httpx
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from tests.acceptance.conftest import create_event_type
from tests.support.receiver import Receiver

H = "/v1/apps/default"


def _verifies(public: str, headers: dict[str, str], body: bytes) -> int:
    """Count the v1a signatures in `headers` that PyNaCl accepts with `public`."""
    lower = {k.lower(): v for k, v in headers.items()}
    signed = f"{lower['webhook-id']}.{lower['webhook-timestamp']}.".encode() + body
    key = VerifyKey(base64.b64decode(public.removeprefix("whpk_")))
    good = 0
    for part in lower["webhook-signature"].split(" "):
        version, _, sig = part.partition(",")
        assert version == "v1a"
        try:
            key.verify(signed, base64.b64decode(sig))
            good += 1
        except BadSignatureError:  # signed by another key
            continue
    return good


class TestEd25519Webhooks:
    def test_a_receiver_verifies_with_the_public_key_through_a_rotation(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        create_event_type(api, "order.paid")
        r = api.post(
            f"{H}/webhooks",
            json={"url": receiver.url, "events": ["order.paid"], "signing": ["ed25519"]},
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["secret"].startswith("whsk_")
        public = created["public_key"]
        assert public.startswith("whpk_")
        wh = created["id"]
        assert api.get(f"{H}/webhooks/{wh}").json()["public_key"] == public
        assert api.get(f"{H}/webhooks/{wh}/public-key").json() == {
            "public_key": public,
            "valid": [public],
        }

        api.post(f"{H}/events", json={"type": "order.paid", "data": {"n": 1}})
        first = receiver.wait_for(1)[0]
        assert _verifies(public, first.headers, first.body) == 1

        rotated = api.post(f"{H}/webhooks/{wh}/rotate-secret", json={}).json()["secret"]
        assert rotated.startswith("whsk_")
        keys = api.get(f"{H}/webhooks/{wh}/public-key").json()
        assert keys["valid"][1] == public and keys["public_key"] != public
        api.post(f"{H}/events", json={"type": "order.paid", "data": {"n": 2}})
        second = receiver.wait_for(2)[1]
        # During the grace period both keys sign: old and new receivers verify.
        assert _verifies(public, second.headers, second.body) == 1
        assert _verifies(keys["public_key"], second.headers, second.body) == 1

    def test_ed25519_signs_alone_and_takes_only_a_signing_key(self, api: httpx.Client) -> None:
        create_event_type(api, "order.paid")
        base = {"url": "http://127.0.0.1:9/x", "events": ["order.paid"]}
        r = api.post(f"{H}/webhooks", json={**base, "signing": ["ed25519", "standard"]})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "signing"
        bad = {**base, "signing": ["ed25519"], "secret": "whsec_" + "A" * 44}
        r = api.post(f"{H}/webhooks", json=bad)
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "secret"
        hmac = api.post(f"{H}/webhooks", json=base).json()
        assert hmac["public_key"] is None
        assert api.get(f"{H}/webhooks/{hmac['id']}/public-key").status_code == 404
