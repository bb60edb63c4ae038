"""Fuzz the JSON API of a live hookd: no body a client sends gets an answer >= 500.

Hypothesis builds bodies from recursive JSON strategies (nesting, huge and odd
numbers, unicode, lone surrogates, wrong types for every field) and raw-text
fragments JSON encoders will not write (NaN, 1e400, 5,000-digit integers,
thousands of levels, invalid UTF-8 from surrogates), then sends them as raw
bytes to publish, batch publish, event types, webhooks (create, PATCH) and
preview. Every answer must be below 500, every 4xx the JSON error shape, and
afterwards hookd still answers /healthz and delivers a normal publish.

The suite sends 6,000 bodies (EXAMPLES, about a minute on 2 cores);
`pytest -m slow tests/acceptance/test_fuzz_json.py` sends 12,000 more
(`test_soak`, 18,000 in all). Both are seeded: the same bodies each run, the soak's not the suite's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

# Bodies each test function sends; 6,000 in all (10,000 did not fit the suite's minute).
EXAMPLES = {"publish": 1800, "batch": 900, "event_types": 900, "webhooks": 1500, "preview": 900}
SOAK_FACTOR = 2  # test_soak: twice as many again, 12,000

PUBLISHER = "/v1/apps/fuzzpub"  # one webhook, to the receiver: publishes are delivered
SHAPER = "/v1/apps/fuzzhooks"  # webhooks made by fuzzing live here; nothing is published there

# -- raw fragments: text a JSON encoder would not write, spliced in after encoding -------

_FRAGMENTS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "-0",
    "18446744073709551616",
    "-9223372036854775809",
    "1" * 30,
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"a\\u0000b"',
    '{"\\ud800": 1}',
]
# Large ones cost time to send and parse: drawn rarely.
_HUGE = [
    "1" * 5000,
    "-" + "9" * 4300,
    "[" * 60_000 + "]" * 60_000,
    '{"a":' * 5000 + "0" + "}" * 5000,
]


def _deep(levels: int, kind: str) -> str:
    if kind == "[":
        return "[" * levels + "]" * levels
    return '{"a":' * levels + "0" + "}" * levels


_fragments = st.one_of(
    *[st.sampled_from(_FRAGMENTS)] * 6,
    st.builds(_deep, st.sampled_from([1, 63, 64, 65, 250, 300, 1000]), st.sampled_from("[{")),
    st.sampled_from(_HUGE),
)

# -- JSON values -------------------------------------------------------------------------

_marker_numbers = itertools.count()


@dataclass
class Raw:
    """A fragment to splice into the encoded body at this place."""

    text: str
    marker: str = field(default_factory=lambda: f"@@raw{next(_marker_numbers)}@@")


_ints = st.integers() | st.sampled_from([2**63 - 1, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
_floats = st.floats() | st.sampled_from([-0.0, 1e308, -1e308, 5e-324, 1.7976931348623157e308])
_odd_text = st.sampled_from(
    ["\ud800", "\udfff", "a\udc00b", "\x00", "\u2028\u2029", "\ufeff", "é", "😀", "${x}", "<%"]
)
_text = st.text(st.characters(exclude_categories=[]), max_size=30) | _odd_text
_keys = _text | st.sampled_from(["type", "data", "id", "$gt", "a.b", "", "events"])
_scalars = st.none() | st.booleans() | _ints | _floats | _text
json_values = st.recursive(
    _scalars | _fragments.map(Raw),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=12,
)
json_objects = st.dictionaries(_keys, json_values, max_size=6)


def _maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a sensible value, sometimes any JSON at all (a wrong type)."""
    return good | good | json_values


def _body(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of `fields`, each maybe wrong, sometimes an unknown key."""
    chosen = st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in fields.items()})
    extra = st.dictionaries(_keys, json_values, max_size=1)
    return st.builds(lambda a, b: {**b, **a}, chosen, extra | st.just({}))


_event_types = st.sampled_from(["fuzz.test", "fuzz.other", "job.success", "nope", "a.b.c"]) | _text
event_bodies = _body(
    {
        "type": _event_types,
        "data": json_objects | json_values,
        "id": _text | st.sampled_from(["k1", "x" * 300]),
    }
)
batch_bodies = _body({"events": st.lists(event_bodies, max_size=4)})
event_type_bodies = _body(
    {
        "name": _event_types,
        "group": _text,
        "description": _text | st.just("d" * 70_000),
        "sample": json_objects,
    }
)

_TEMPLATES = [
    '{"id": "${event.id}", "n": ${n}}',
    "<% if true %>" * 100 + "x" + "<% endif %>" * 100,
    "${" + "(" * 5000 + "1" + ")" * 5000 + "}",
    "${ ( }",
    "${ nope }",
    "<% for i in range(10**9) %>${i}<% endfor %>",
    "${'x' * 10**9}",
    "{%",
]
_URLS = [
    "http://127.0.0.1:9/in",
    "https://example.com/${event.id}",
    "http://127.0.0.1:9/${" + "(" * 990 + "1" + ")" * 990 + "}",
    "http://127.0.0.1:9/${ ( }",
    "http://[::1]:9/x",
    "ftp://example.com/",
    "http://127.0.0.1:9/" + "a" * 5000,
    "",
]
webhook_bodies = _body(
    {
        "url": st.sampled_from(_URLS) | _text,
        "uri": st.sampled_from(_URLS),
        "events": st.lists(st.sampled_from(["fuzz.test", "fuzz.*", "*", "nope.x", ""]), max_size=3),
        "event": _event_types,
        "enabled": st.booleans(),
        "disabled": st.booleans(),
        "name": _text,
        "description": _text,
        "method": st.sampled_from(["POST", "GET", "PUT", "PATCH", "DELETE", "get", "TRACE"]),
        "content_type": st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain", "text/html"]
        ),
        "headers": st.dictionaries(
            st.sampled_from(["X-A", "Authorization", "Content-Type", "bad name", "X-Token"])
            | _text,
            st.sampled_from(_TEMPLATES) | _text,
            max_size=3,
        ),
        "body_template": st.sampled_from(_TEMPLATES) | _text,
        "filter": st.sampled_from([{"n": {"$gt": 1}}, {"$or": []}, {"a": {"$nope": 1}}])
        | json_objects,
        "secret": st.sampled_from(["whsec_" + "A" * 32, "short"]) | _text,
        "signing": st.lists(
            st.sampled_from(["standard", "hmac-sha256-base64", "github", "ed25519", "x"]),
            max_size=3,
        ),
        "secret_headers": st.lists(st.sampled_from(["X-A", "X-Token", "nope"]), max_size=2),
        "mail_exceptions_to": st.sampled_from(["a@example.com", "not mail", "a@b.c,,d@e.f"]),
        "disable_after_failures": _ints | _floats,
        "disable_after_seconds": _ints | _floats,
        "max_in_flight": _ints | _floats,
        "rate_limit": _ints | _floats,
        "mode": st.sampled_from(["immediate", "queued", "later"]),
        "batch_order": st.sampled_from(["chronological", "reverse", "random"]),
        "batch_max_events": _ints,
        "batch_interval": _ints | _floats,
    }
)
preview_bodies = _body(
    {
        "event_id": _text | st.sampled_from(["evt_nope"]),
        "event_type": _event_types,
        "data": json_objects,
    }
)
draft_preview_bodies = st.builds(
    lambda w, p: {**p, "webhook": w}, webhook_bodies | json_values, preview_bodies
)

# -- encoding ----------------------------------------------------------------------------


def _splice(value: Any, raws: list[Raw]) -> Any:
    if isinstance(value, Raw):
        raws.append(value)
        return value.marker
    if isinstance(value, list):
        return [_splice(v, raws) for v in value]
    if isinstance(value, dict):
        return {k: _splice(v, raws) for k, v in value.items()}
    return value


@st.composite
def encoded(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    """Encode a drawn value as hookd would receive it: usually JSON, sometimes broken."""
    raws: list[Raw] = []
    value = _splice(draw(values), raws)
    ascii_only = draw(st.booleans())
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    for raw in raws:
        text = text.replace(json.dumps(raw.marker), raw.text, 1)
    # Without ensure_ascii a lone surrogate is written raw: bytes that are not UTF-8.
    body = text.encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(["none"] * 12 + ["truncate", "garbage"]))
    if damage == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif damage == "garbage":
        body = draw(st.binary(max_size=40)) + body[:100]
    return body


# -- the live server ---------------------------------------------------------------------


@dataclass
class Fuzz:
    server: HookdProcess
    client: httpx.Client
    receiver: Receiver
    webhook_id: str
    sent: int = 0

    def send(self, method: str, path: str, body: bytes, *, chunked: bool = False) -> None:
        content: bytes | Iterator[bytes] = iter([body]) if chunked else body
        r = self.client.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        self.sent += 1
        what = f"{method} {path} with {body[:300]!r}... ({len(body)} bytes)"
        assert r.status_code < 500, f"{r.status_code} for {what}: {r.text[:500]}"
        if r.status_code >= 400:
            try:
                error = r.json()["error"]
            except (ValueError, KeyError, TypeError):
                raise AssertionError(f"not the JSON error for {what}: {r.text[:500]}") from None
            assert set(error) == {"code", "message", "details"}, r.text
            assert isinstance(error["code"], str) and isinstance(error["message"], str), r.text

    def assert_healthy(self) -> None:
        """hookd still answers, and still takes and delivers a normal publish."""
        assert self.client.get("/healthz").status_code == 200
        r = self.client.post(
            f"{PUBLISHER}/events", json={"type": "fuzz.test", "data": {"after": "fuzzing"}}
        )
        assert r.status_code == 202, r.text
        event_id = r.json()["id"]
        eventually_sync(
            lambda: any(q.headers.get("webhook-id") == event_id for q in self.receiver.received()),
            timeout=30,
            what="the publish after fuzzing to be delivered",
        )


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    workdir = tmp_path_factory.mktemp("fuzz")
    server = HookdProcess(f"sqlite:///{workdir / 'hookd.db'}", Path(workdir)).start()
    try:
        with Receiver() as receiver, server.client() as client:
            for app in (PUBLISHER, SHAPER):
                uid = app.rsplit("/", 1)[1]
                assert client.post("/v1/apps", json={"uid": uid}).status_code == 201
                r = client.post(f"{app}/event-types", json={"name": "fuzz.test"})
                assert r.status_code == 201, r.text
            r = client.post(
                f"{PUBLISHER}/webhooks", json={"url": receiver.url, "events": ["fuzz.test"]}
            )
            assert r.status_code == 201, r.text
            r = client.post(
                f"{SHAPER}/webhooks", json={"url": receiver.url + "/x", "events": ["fuzz.test"]}
            )
            assert r.status_code == 201, r.text
            yield Fuzz(server, client, receiver, r.json()["id"])
    finally:
        server.kill()


def _fuzz(
    examples: int, strategy: st.SearchStrategy[Any], fixed: int
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Run `test` on `examples` draws, seeded: the same bodies every run, others per seed."""
    return lambda test: seed(fixed)(
        settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )(given(strategy)(test))
    )


def _publish(fuzz: Fuzz, n: int, fixed: int) -> None:
    @_fuzz(n, st.tuples(encoded(event_bodies), st.booleans()), fixed)
    def run(case: tuple[bytes, bool]) -> None:
        body, chunked = case
        fuzz.send("POST", f"{PUBLISHER}/events", body, chunked=chunked)

    run()


def _batch(fuzz: Fuzz, n: int, fixed: int) -> None:
    @_fuzz(n, encoded(batch_bodies | json_values), fixed)
    def run(body: bytes) -> None:
        fuzz.send("POST", f"{PUBLISHER}/events/batch", body)

    run()


def _event_types_(fuzz: Fuzz, n: int, fixed: int) -> None:
    @_fuzz(n, st.tuples(st.booleans(), encoded(event_type_bodies | json_values)), fixed)
    def run(case: tuple[bool, bytes]) -> None:
        create, body = case
        if create:
            fuzz.send("POST", f"{SHAPER}/event-types", body)
        else:
            fuzz.send("PATCH", f"{SHAPER}/event-types/fuzz.test", body)

    run()


def _webhooks(fuzz: Fuzz, n: int, fixed: int) -> None:
    @_fuzz(n, st.tuples(st.booleans(), encoded(webhook_bodies | json_values)), fixed)
    def run(case: tuple[bool, bytes]) -> None:
        create, body = case
        if create:
            fuzz.send("POST", f"{SHAPER}/webhooks", body)
        else:
            fuzz.send("PATCH", f"{SHAPER}/webhooks/{fuzz.webhook_id}", body)

    run()


def _preview(fuzz: Fuzz, n: int, fixed: int) -> None:
    saved = f"{SHAPER}/webhooks/{fuzz.webhook_id}/preview"
    cases = st.tuples(st.just(saved), encoded(preview_bodies | json_values)) | st.tuples(
        st.just(f"{SHAPER}/webhooks/preview"), encoded(draft_preview_bodies | json_values)
    )

    @_fuzz(n, cases, fixed)
    def run(case: tuple[str, bytes]) -> None:
        fuzz.send("POST", *case)

    run()


RUNS: dict[str, Callable[[Fuzz, int, int], None]] = {
    "publish": _publish,
    "batch": _batch,
    "event_types": _event_types_,
    "webhooks": _webhooks,
    "preview": _preview,
}


@pytest.mark.parametrize("target", list(EXAMPLES))
def test_no_answer_is_a_500(fuzz: Fuzz, target: str) -> None:
    before = fuzz.sent
    RUNS[target](fuzz, EXAMPLES[target], 0)
    assert fuzz.sent - before >= EXAMPLES[target]
    fuzz.assert_healthy()


@pytest.mark.slow
@pytest.mark.timeout(900)  # about two minutes on 2 cores; the suite's 120 s is per test
def test_soak(fuzz: Fuzz) -> None:
    before = fuzz.sent
    for target, run in RUNS.items():
        run(fuzz, EXAMPLES[target] * SOAK_FACTOR, 1)  # other bodies than the suite's
    assert fuzz.sent - before >= sum(EXAMPLES.values()) * SOAK_FACTOR
    fuzz.assert_healthy()
