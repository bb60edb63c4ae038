import base64
import hashlib
import hmac
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from hookd.domain import signing

secrets_ = st.binary(min_size=16, max_size=64).map(
    lambda b: "whsec_" + base64.b64encode(b).decode()
)
# The standardwebhooks package parses the body it verifies, so bodies are JSON.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
bodies = st.dictionaries(st.text(), json_values, max_size=5).map(
    lambda d: json.dumps(d, ensure_ascii=False).encode()
)
msg_ids = st.from_regex(r"evt_[0-9a-z]{26}", fullmatch=True)


def _headers(secret: str, msg_id: str, ts: int, body: bytes) -> dict[str, str]:
    return signing.signature_headers([signing.STANDARD], [secret], msg_id, ts, body)


class TestStandard:
    @settings(max_examples=200)
    @given(secrets_, msg_ids, bodies)
    def test_standardwebhooks_package_verifies_what_hookd_signs(
        self, secret: str, msg_id: str, body: bytes
    ) -> None:
        headers = _headers(secret, msg_id, int(time.time()), body)
        StandardWebhook(secret).verify(body, headers)

    @settings(max_examples=200)
    @given(secrets_, msg_ids, bodies, st.data())
    def test_a_changed_byte_fails(
        self, secret: str, msg_id: str, body: bytes, data: st.DataObject
    ) -> None:
        headers = _headers(secret, msg_id, int(time.time()), body)
        # change one ASCII byte to another, so the body stays valid UTF-8 JSON text
        ascii_at = [i for i, b in enumerate(body) if 0x20 <= b < 0x7F]
        i = data.draw(st.sampled_from(ascii_at))
        tampered = body[:i] + bytes([body[i] ^ 0x01 or 0x41]) + body[i + 1 :]
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(secret).verify(tampered, headers)
        assert not signing.verify_standard(secret, headers, tampered, now=time.time())

    def test_rotation_sends_one_signature_per_secret(self) -> None:
        old, new = signing.generate_secret(), signing.generate_secret()
        body = b'{"a":1}'
        headers = signing.signature_headers(
            [signing.STANDARD], [new, old], "evt_1", int(time.time()), body
        )
        assert len(headers["webhook-signature"].split(" ")) == 2
        StandardWebhook(old).verify(body, headers)
        StandardWebhook(new).verify(body, headers)

    def test_stale_timestamps_are_refused(self) -> None:
        secret = signing.generate_secret()
        headers = _headers(secret, "evt_1", int(time.time()) - 3600, b"x")
        assert not signing.verify_standard(secret, headers, b"x", now=time.time())

    def test_no_secret_means_no_headers(self) -> None:
        assert signing.signature_headers([signing.STANDARD], [], "evt_1", 1, b"x") == {}

    def test_generated_secrets_hold_32_random_bytes(self) -> None:
        a, b = signing.generate_secret(), signing.generate_secret()
        assert a.startswith("whsec_") and a != b
        assert len(signing.standard_key(a)) == 32

    def test_secret_that_is_not_base64_is_refused(self) -> None:
        with pytest.raises(ValueError, match="base64"):
            signing.standard_key("whsec_not base64!")


class TestOtherSchemes:
    def test_hmac_base64_uses_the_secret_bytes_as_stored(self) -> None:
        secret, body = "mautic-secret", b'{"form.submit":[]}'
        expected = base64.b64encode(
            hmac.new(b"mautic-secret", body, hashlib.sha256).digest()
        ).decode()
        headers = signing.signature_headers([signing.HMAC_BASE64], [secret], "x", 1, body)
        assert headers == {"Webhook-Signature": expected}

    def test_github_published_test_vector(self) -> None:
        # From GitHub's "Validating webhook deliveries" documentation.
        headers = signing.signature_headers(
            [signing.GITHUB], ["It's a Secret to Everybody"], "x", 1, b"Hello, World!"
        )
        expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        assert headers == {"X-Hub-Signature-256": f"sha256={expected}"}


class TestEd25519:
    """hookd's v1a signatures, checked by an independent implementation (PyNaCl)."""

    @given(body=st.binary(max_size=512), msg_id=st.text("abcdef0123456789_", max_size=40))
    @settings(max_examples=50, deadline=None)
    def test_pynacl_verifies_what_hookd_signs(self, body: bytes, msg_id: str) -> None:
        from nacl.signing import SigningKey, VerifyKey

        secret = signing.generate_signing_key()
        ts = 1_700_000_000
        value = signing.signature_headers([signing.ED25519], [secret], msg_id, ts, body)[
            "webhook-signature"
        ]
        version, _, sig = value.partition(",")
        assert version == "v1a"
        public = signing.public_key(secret)
        verify_key = VerifyKey(base64.b64decode(public.removeprefix("whpk_")))
        verify_key.verify(f"{msg_id}.{ts}.".encode() + body, base64.b64decode(sig))
        # The same seed in PyNaCl gives the same public key.
        seed = base64.b64decode(secret.removeprefix("whsk_"))
        assert bytes(SigningKey(seed).verify_key) == bytes(verify_key)

    def test_a_rotation_sends_both_signatures_and_each_verifies(self) -> None:
        new, old = signing.generate_signing_key(), signing.generate_signing_key()
        now = int(time.time())
        headers = signing.signature_headers([signing.ED25519], [new, old], "evt_1", now, b"{}")
        assert headers["webhook-signature"].count("v1a,") == 2
        for key in (new, old):
            public = signing.public_key(key)
            assert signing.verify_ed25519(public, headers, b"{}", now=now)
        stranger = signing.public_key(signing.generate_signing_key())
        assert not signing.verify_ed25519(stranger, headers, b"{}", now=now)
        assert not signing.verify_ed25519(signing.public_key(new), headers, b"{ }", now=now)
        assert not signing.verify_ed25519(signing.public_key(new), headers, b"{}", now=now + 301)

    @pytest.mark.parametrize("bad", ["whsk_", "whsk_" + "A" * 10, "whsec_abc", "x" * 40])
    def test_a_key_that_is_not_32_bytes_of_seed_is_refused(self, bad: str) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            signing.ed25519_key(bad)

    def test_hookd_listen_verifies_with_the_public_key(self) -> None:
        from hookd.listen import check_signatures

        secret = signing.generate_signing_key()
        now = int(time.time())
        headers = signing.signature_headers([signing.ED25519], [secret], "evt_1", now, b"{}")
        assert check_signatures(signing.public_key(secret), headers, b"{}", now) == (
            True,
            "ed25519",
        )
        ok, why = check_signatures(signing.public_key(secret), headers, b"{!}", now)
        assert not ok and "v1a" in why
