"""`hookd listen`: a local receiver that prints each request and checks its signature.

Point a webhook at it (with `--dev`) to see exactly what hookd sends:

    hookd listen --port 9000 --secret whsec_...

Every request prints one block: time, method and path, the headers, the body
(pretty JSON when it parses), and with a secret a verdict on every signature
scheme the request carries (see `hookd.domain.signing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler
from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.text import Text

from hookd.domain import signing

__all__ = ["BODY_LIMIT", "check_signatures", "run", "serve_listener"]

BODY_LIMIT = 4096  # characters of body printed per request
TOLERANCE = 300  # seconds a standard timestamp may be off, as verify_standard allows

# Headers every client sends that say nothing about the webhook.
_BORING = frozenset({"host", "accept", "accept-encoding", "connection"})
_JSON = JSONHighlighter()
_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


async def serve_listener(
    host: str,
    port: int,
    *,
    secret: str | None,
    status: int = 200,
    console: Console | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Answer every request with `status` and print it, until cancelled."""
    out = console if console is not None else Console()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", _handler(out, secret, status))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        for address in runner.addresses:
            bound_host, bound_port = address[0], address[1]
            out.print(
                f"listening on http://{_url_host(bound_host)}:{bound_port}",
                highlight=False,
                markup=False,
            )
        if secret:
            out.print("verifying signatures with the given secret", highlight=False, markup=False)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def check_signatures(
    secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> tuple[bool, str]:
    """Check every signature scheme present in `headers`; return (ok, reason)."""
    if secret.startswith((signing.PUBLIC_KEY_PREFIX, signing.SIGNING_KEY_PREFIX)):
        return _check_ed25519(secret, headers, body, now)
    standard: list[str] = []
    plain: list[str] = []
    for value in _values(headers, "webhook-signature"):
        # Both schemes name their header Webhook-Signature; only the standard one says "v1,".
        (standard if value.lstrip().startswith("v1,") else plain).append(value)
    github = _values(headers, "x-hub-signature-256")
    msg_id = _first(headers, "webhook-id")
    stamp = _first(headers, "webhook-timestamp")

    verdicts: list[tuple[str, str | None]] = []
    if standard or msg_id is not None or stamp is not None:
        verdicts.append(
            (signing.STANDARD, _check_standard(secret, msg_id, stamp, standard, body, now))
        )
    if plain:
        expected = signing.sign_hmac_base64(secret, body)
        ok = any(hmac.compare_digest(expected, v.strip()) for v in plain)
        verdicts.append((signing.HMAC_BASE64, None if ok else "mismatch"))
    if github:
        expected = signing.sign_github(secret, body)
        ok = any(hmac.compare_digest(expected, v.strip()) for v in github)
        verdicts.append((signing.GITHUB, None if ok else "mismatch"))

    if not verdicts:
        return False, "no signature headers"
    failed = [f"{scheme}: {why}" for scheme, why in verdicts if why is not None]
    if failed:
        return False, "; ".join(failed)
    return True, ", ".join(scheme for scheme, _ in verdicts)


def _check_ed25519(
    key: str, headers: Mapping[str, str], body: bytes, now: float
) -> tuple[bool, str]:
    """Verify `v1a` signatures with a `whpk_` public key (or a `whsk_` key's public half)."""
    try:
        public = key if key.startswith(signing.PUBLIC_KEY_PREFIX) else signing.public_key(key)
    except ValueError as exc:
        return False, f"{signing.ED25519}: {exc}"
    if signing.verify_ed25519(public, headers, body, now=now, tolerance=TOLERANCE):
        return True, signing.ED25519
    return False, f"{signing.ED25519}: no valid, fresh v1a signature"


def run(host: str, port: int, secret: str | None, status: int) -> None:
    """Serve until interrupted (Ctrl-C); use uvloop when it is installed."""
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory) as runner,
    ):
        runner.run(serve_listener(host, port, secret=secret, status=status))


def _handler(out: Console, secret: str | None, status: int) -> Handler:
    empty = status < 200 or status in (204, 304)
    answer = json.dumps({"ok": status < 400}).encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        _print_request(out, request, body, secret)
        if empty:
            return web.Response(status=status)
        return web.Response(status=status, body=answer, content_type="application/json")

    return handle


def _print_request(out: Console, request: web.Request, body: bytes, secret: str | None) -> None:
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    out.rule(
        Text.assemble(
            (stamp, "dim"), " ", (request.method, "bold"), " ", _scrub(request.path_qs, secret)
        ),
        align="left",
    )
    for name, value in request.headers.items():
        if name.lower() not in _BORING:
            out.print(Text.assemble((f"{name.lower()}: ", "cyan"), _scrub(value, secret)))
    if secret:
        ok, reason = check_signatures(secret, request.headers, body, time.time())
        if ok:
            out.print(Text(f"signature: verified ({reason})", style="bold green"))
        else:
            out.print(Text(f"signature: INVALID — {reason}", style="bold red"))
    if body:
        out.print()
        out.print(_JSON(Text(_scrub(_render_body(body), secret))))
    out.print()


def _render_body(body: bytes) -> str:
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
    if len(text) > BODY_LIMIT:
        return text[:BODY_LIMIT] + f"\n… ({len(text) - BODY_LIMIT} more characters)"
    return text


def _scrub(text: str, secret: str | None) -> str:
    """Keep the secret off the screen even when a request echoes it back."""
    if not secret:
        return text
    key = secret.removeprefix(signing.SECRET_PREFIX)
    return text.replace(secret, "[secret]").replace(key, "[secret]") if key else text


def _check_standard(
    secret: str,
    msg_id: str | None,
    stamp: str | None,
    signatures: list[str],
    body: bytes,
    now: float,
) -> str | None:
    """Return why the standard signature fails, or None when it verifies."""
    given = " ".join(signatures)
    if not msg_id or not stamp or not given:
        present = zip(_STANDARD_HEADERS, (msg_id, stamp, given), strict=True)
        return "missing " + ", ".join(name for name, value in present if not value)
    try:
        timestamp = int(stamp)
    except ValueError:
        return f"timestamp {stamp!r} is not Unix seconds"
    try:
        signing.standard_key(secret)
    except ValueError:
        return "the secret is not a whsec_ key"
    skew = now - timestamp
    if skew > TOLERANCE:
        return f"timestamp too old ({skew:.0f} s)"
    if -skew > TOLERANCE:
        return f"timestamp in the future ({-skew:.0f} s)"
    headers = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": given}
    if signing.verify_standard(secret, headers, body, now=now, tolerance=TOLERANCE):
        return None
    return "mismatch"


def _values(headers: Mapping[str, str], name: str) -> list[str]:
    """Return every value of a header, case-insensitively, repeated headers included."""
    items: Iterable[tuple[str, str]] = headers.items()
    return [value for key, value in items if key.lower() == name]


def _first(headers: Mapping[str, str], name: str) -> str | None:
    values = _values(headers, name)
    return values[0] if values else None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
