"""`verify`: check a request hookd delivered, for receivers.

Which scheme signed it is read from the headers (and the key given):

    webhook-signature: v1,…     standard (Standard Webhooks, HMAC-SHA256): a `whsec_` secret
    webhook-signature: v1a,…    ed25519 (Standard Webhooks' asymmetric form): a `whpk_` public key
    Webhook-Signature: <base64> hmac-sha256-base64 (Mautic's): the secret as stored
    X-Hub-Signature-256         github: the secret as stored

The timestamped schemes (standard, ed25519) refuse a `webhook-timestamp` more
than `tolerance` seconds from now, which stops replays. Needs only hookd's
signing rules (domain/signing.py) and `cryptography`, not the HTTP client.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature as _BadEd25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hookd.client.errors import InvalidSignature
from hookd.domain import signing

__all__ = ["verify"]


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> str:
    """Check the signature of a delivery's raw body; return the scheme that signed it.

    `secret` is the webhook's secret (`whsec_…`, or as stored for the
    HMAC schemes) or, for ed25519, its public key (`whpk_…`). Raise
    `InvalidSignature` saying why when it does not verify.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    moment = time.time() if now is None else now
    given = lower.get("webhook-signature")
    if given is not None:
        versions = {part.partition(",")[0] for part in given.split(" ") if "," in part}
        if "v1" in versions:
            _standard(payload, lower, secret, tolerance, moment)
            return signing.STANDARD
        if "v1a" in versions:
            _ed25519(payload, lower, secret, tolerance, moment)
            return signing.ED25519
        _compare(given.strip(), signing.sign_hmac_base64(secret, payload), "Webhook-Signature")
        return signing.HMAC_BASE64
    hub = lower.get("x-hub-signature-256")
    if hub is not None:
        _compare(hub.strip(), signing.sign_github(secret, payload), "X-Hub-Signature-256")
        return signing.GITHUB
    raise InvalidSignature("no signature header (webhook-signature or X-Hub-Signature-256)")


def _compare(given: str, expected: str, header: str) -> None:
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidSignature(f"{header} does not match the body signed with this secret")


def _stamped(lower: Mapping[str, str], tolerance: float, now: float) -> tuple[str, int]:
    """Return the message id and timestamp, checked for presence and freshness."""
    msg_id, stamp = lower.get("webhook-id"), lower.get("webhook-timestamp")
    if not msg_id:
        raise InvalidSignature("missing webhook-id header")
    if not stamp:
        raise InvalidSignature("missing webhook-timestamp header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature(f"webhook-timestamp {stamp!r} is not Unix seconds") from None
    if now - timestamp > tolerance:
        raise InvalidSignature(
            f"webhook-timestamp is {now - timestamp:.0f} s old (tolerance {tolerance:g} s)"
        )
    if timestamp - now > tolerance:
        raise InvalidSignature(
            f"webhook-timestamp is {timestamp - now:.0f} s in the future"
            f" (tolerance {tolerance:g} s)"
        )
    return msg_id, timestamp


def _parts(lower: Mapping[str, str], version: str) -> list[str]:
    prefix = version + ","
    return [p[len(prefix) :] for p in lower["webhook-signature"].split(" ") if p.startswith(prefix)]


def _standard(
    payload: bytes, lower: Mapping[str, str], secret: str, tolerance: float, now: float
) -> None:
    if secret.startswith(signing.PUBLIC_KEY_PREFIX):
        raise InvalidSignature(
            "signed with an HMAC secret (v1), not ed25519: give the whsec_ secret"
        )
    try:
        signing.standard_key(secret)
    except ValueError as exc:
        raise InvalidSignature(f"the secret {exc}") from None
    msg_id, timestamp = _stamped(lower, tolerance, now)
    expected = signing.sign_standard(secret, msg_id, timestamp, payload)[len("v1,") :]
    if not any(hmac.compare_digest(expected, part) for part in _parts(lower, "v1")):
        raise InvalidSignature("no v1 signature matches the body signed with this secret")


def _ed25519(
    payload: bytes, lower: Mapping[str, str], public: str, tolerance: float, now: float
) -> None:
    if not public.startswith(signing.PUBLIC_KEY_PREFIX):
        raise InvalidSignature(
            "signed with ed25519 (v1a): verify with the webhook's public key (whpk_…)"
        )
    try:
        raw = base64.b64decode(public[len(signing.PUBLIC_KEY_PREFIX) :], validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise InvalidSignature("the public key is not whpk_ and the base64 of 32 bytes") from None
    msg_id, timestamp = _stamped(lower, tolerance, now)
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    for part in _parts(lower, "v1a"):
        try:
            key.verify(base64.b64decode(part, validate=True), signed)
        except (_BadEd25519, ValueError, binascii.Error):
            continue
        return
    raise InvalidSignature("no v1a signature matches the body and this public key")
