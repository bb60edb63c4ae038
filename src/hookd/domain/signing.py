"""Signature schemes a webhook can sign its requests with.

- `standard`: Standard Webhooks headers `webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`; the key
  is the base64 part of a `whsec_…` secret. Several valid secrets (during a
  rotation) give several space-separated signatures.
- `hmac-sha256-base64`: `Webhook-Signature: base64(HMAC-SHA256(secret, body))`,
  as Mautic signs; the key is the secret string's UTF-8 bytes as stored.
- `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; the
  key is the secret string's UTF-8 bytes as stored.
- `ed25519`: Standard Webhooks' asymmetric form: the same `webhook-id` and
  `webhook-timestamp`, `webhook-signature: v1a,<base64 Ed25519(id.timestamp.body)>`.
  The secret is the private key, `whsk_<base64 32-byte seed>`, and never leaves
  hookd; receivers verify with the public key `whpk_<base64 32 bytes>`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _random
from collections.abc import Mapping, Sequence
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STANDARD = "standard"
HMAC_BASE64 = "hmac-sha256-base64"
GITHUB = "github"
ED25519 = "ed25519"
SCHEMES = (STANDARD, HMAC_BASE64, GITHUB, ED25519)
SECRET_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"  # an ed25519 private key (the webhook's secret)
PUBLIC_KEY_PREFIX = "whpk_"  # its public key, for receivers

# Header names the schemes own; users may not set them as custom headers.
SIGNATURE_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "x-hub-signature-256"}
)


def generate_secret() -> str:
    """Return a new `whsec_` secret holding 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode()


def generate_signing_key() -> str:
    """Return a new `whsk_` ed25519 private key (32 random bytes of seed)."""
    return SIGNING_KEY_PREFIX + base64.b64encode(_random.token_bytes(32)).decode()


def new_secret(schemes: Sequence[str]) -> str:
    """Return a new secret of the kind `schemes` sign with."""
    return generate_signing_key() if ED25519 in schemes else generate_secret()


@lru_cache(maxsize=1024)
def _private_key(secret: str) -> Ed25519PrivateKey:
    raw = secret[len(SIGNING_KEY_PREFIX) :] if secret.startswith(SIGNING_KEY_PREFIX) else ""
    try:
        seed = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != 32:
        raise ValueError("must be 'whsk_' followed by the base64 of 32 bytes for ed25519")
    return Ed25519PrivateKey.from_private_bytes(seed)


def ed25519_key(secret: str) -> None:
    """Check an ed25519 secret (`whsk_…`), or raise ValueError."""
    _private_key(secret)


def public_key(secret: str) -> str:
    """Return the `whpk_` public key of an ed25519 secret."""
    raw = _private_key(secret).public_key().public_bytes_raw()
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def sign_ed25519(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return `v1a,<signature>` for one private key."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1a," + base64.b64encode(_private_key(secret).sign(signed)).decode()


def verify_ed25519(
    public: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = 300,
) -> bool:
    """Tell whether `headers` carry a valid, fresh `v1a` signature by `public` (`whpk_…`)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lower.get("webhook-id"), lower.get("webhook-timestamp")
    given = lower.get("webhook-signature")
    if not msg_id or not stamp or not given or not public.startswith(PUBLIC_KEY_PREFIX):
        return False
    try:
        timestamp = int(stamp)
        key = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(public[len(PUBLIC_KEY_PREFIX) :], validate=True)
        )
    except (ValueError, binascii.Error):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for part in given.split(" "):
        version, _, signature = part.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature, validate=True), signed)
        except (InvalidSignature, ValueError, binascii.Error):
            continue
        return True
    return False


@lru_cache(maxsize=1024)  # decoded once per secret, not once per request
def standard_key(secret: str) -> bytes:
    """Return the HMAC key of a Standard Webhooks secret, or raise ValueError."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be 'whsec_' followed by base64 for the standard scheme") from exc
    if len(key) < 16:
        raise ValueError("must hold at least 16 bytes of key for the standard scheme")
    return key


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return `v1,<signature>` for one secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    # hmac.digest: OpenSSL's one-shot HMAC, without an HMAC object per request.
    return "v1," + base64.b64encode(hmac.digest(standard_key(secret), signed, "sha256")).decode()


def sign_hmac_base64(secret: str, body: bytes) -> str:
    """Return base64(HMAC-SHA256(secret, body)) with the secret's UTF-8 bytes as key."""
    return base64.b64encode(hmac.digest(secret.encode(), body, "sha256")).decode()


def sign_github(secret: str, body: bytes) -> str:
    """Return `sha256=<hex>` as GitHub's X-Hub-Signature-256 carries it."""
    return "sha256=" + hmac.digest(secret.encode(), body, "sha256").hex()


def signature_headers(
    schemes: Sequence[str],
    secrets: Sequence[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
) -> dict[str, str]:
    """Return the headers that sign `body` with every valid secret, newest first."""
    if not secrets:
        return {}
    headers: dict[str, str] = {}
    for scheme in schemes:
        if scheme == STANDARD:
            headers["webhook-id"] = msg_id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = " ".join(
                sign_standard(s, msg_id, timestamp, body) for s in secrets
            )
        elif scheme == HMAC_BASE64:
            # One header value only: receivers compare it whole. Sign with the newest.
            headers["Webhook-Signature"] = sign_hmac_base64(secrets[0], body)
        elif scheme == GITHUB:
            headers["X-Hub-Signature-256"] = sign_github(secrets[0], body)
        elif scheme == ED25519:
            headers["webhook-id"] = msg_id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = " ".join(
                sign_ed25519(s, msg_id, timestamp, body) for s in secrets
            )
        else:
            raise ValueError(f"unknown signing scheme {scheme!r}")
    return headers


def verify_standard(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = 300,
) -> bool:
    """Tell whether `headers` carry a valid, fresh standard signature of `body`."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    given = lower.get("webhook-signature")
    if not msg_id or not stamp or not given:
        return False
    try:
        timestamp = int(stamp)
        expected = sign_standard(secret, msg_id, timestamp, body)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return any(hmac.compare_digest(expected, part) for part in given.split(" "))
