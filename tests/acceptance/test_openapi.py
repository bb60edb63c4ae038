"""The OpenAPI document describes what the server answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from pydantic import ValidationError

from hookd.api.app import create_app
from hookd.api.teams import UserIn
from hookd.config import Settings
from tests.support.server import HookdProcess


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc: dict[str, Any] = create_app(Settings(db="sqlite:///:memory:")).openapi()
    return doc


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, item in doc["paths"].items() for m, op in item.items()]


class TestDocument:
    def test_operation_ids_are_unique_camel_case(self, document: dict[str, Any]) -> None:
        ids = [op["operationId"] for _, _, op in operations(document)]
        assert len(ids) == len(set(ids))
        assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids), ids
        assert {"publishEvent", "createWebhook", "listWebhooks", "getDelivery"} <= set(ids)

    def test_one_error_model_and_no_fastapi_detail(self, document: dict[str, Any]) -> None:
        assert "HTTPValidationError" not in json.dumps(document)
        for path, method, op in operations(document):
            assert "503" in op["responses"] or path == "/healthz", (path, method)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)

    def test_bearer_scheme_and_no_authorization_parameter(self, document: dict[str, Any]) -> None:
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        publish = document["paths"]["/v1/apps/{app}/events"]["post"]
        assert publish["security"] == [{"bearer": []}]
        assert {"401", "403", "404", "413", "422"} <= set(publish["responses"])
        for _, _, op in operations(document):
            names = [p["name"].lower() for p in op.get("parameters", [])]
            assert "authorization" not in names

    def test_type_names_carry_the_noun_verb_pattern(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        pattern = re.compile(schemas["EventIn"]["properties"]["type"]["pattern"])
        assert pattern.search("job.success") and not pattern.search("")
        assert schemas["EventTypeIn"]["properties"]["name"]["pattern"] == pattern.pattern

    def test_delivery_status_filter_lists_the_statuses(self, document: dict[str, Any]) -> None:
        params = document["paths"]["/v1/apps/{app}/deliveries"]["get"]["parameters"]
        [status] = [p for p in params if p["name"] == "status"]
        assert "cancelled" in status["schema"]["enum"]

    def test_metrics_is_prometheus_text(self, document: dict[str, Any]) -> None:
        ok = document["paths"]["/metrics"]["get"]["responses"]["200"]
        assert list(ok["content"]) == ["text/plain"]


class TestDescriptionsAndExamples:
    def test_every_operation_has_a_description(self, document: dict[str, Any]) -> None:
        missing = [
            op["operationId"] for _, _, op in operations(document) if not op.get("description")
        ]
        assert not missing

    def test_every_body_and_answer_has_an_example(self, document: dict[str, Any]) -> None:
        for path, method, op in operations(document):
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                assert "example" in media, (method, path, "request")
            ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
            assert ok, (method, path)
            for status, response in ok.items():
                if status == "204":
                    assert "content" not in response, (method, path)
                    continue
                for media in response["content"].values():
                    assert "example" in media, (method, path, status)

    def test_examples_match_their_schemas(self, document: dict[str, Any]) -> None:
        for path, method, op in operations(document):
            media = [
                *op.get("requestBody", {}).get("content", {}).values(),
                *(
                    m
                    for s, r in op["responses"].items()
                    if s.startswith("2")
                    for m in r.get("content", {}).values()
                ),
            ]
            for one in media:
                schema = {**one["schema"], "components": document["components"]}
                validator = jsonschema_rs.Draft202012Validator(schema)
                errors = [e.message for e in validator.iter_errors(one["example"])]
                assert not errors, (method, path, errors)


class TestConstraints:
    def test_webhook_create_requires_url_and_events(self, document: dict[str, Any]) -> None:
        schema = {"$ref": "#/components/schemas/WebhookIn", "components": document["components"]}
        valid = jsonschema_rs.Draft202012Validator(schema).is_valid
        assert valid({"url": "https://example.com/hook", "events": ["job.*"]})
        assert valid({"uri": "https://example.com/hook", "event": "job.success"})
        assert not valid({"events": ["job.*"]})
        assert not valid({"url": "https://example.com/hook"})
        assert not valid({"url": None, "events": ["job.*"]})

    def test_webhook_fields_list_what_the_service_accepts(self, document: dict[str, Any]) -> None:
        fields = document["components"]["schemas"]["WebhookPatch"]["properties"]

        def rule(name: str) -> dict[str, Any]:
            [branch] = [b for b in fields[name]["anyOf"] if b.get("type") != "null"]
            return branch

        assert rule("method")["enum"] == ["POST", "GET", "PUT", "PATCH", "DELETE"]
        assert "text/plain" in rule("content_type")["enum"]
        assert rule("mode")["enum"] == ["immediate", "queued"]
        assert rule("signing")["items"]["enum"] == [
            "standard",
            "hmac-sha256-base64",
            "github",
            "ed25519",
        ]
        assert rule("events")["minItems"] == 1
        assert rule("max_in_flight")["maximum"] == 1000

    @pytest.mark.parametrize("char", ["\x1c", "\x85", "\ufeff", "\xa0", "\u3000", " ", "\n"])
    def test_email_pattern_agrees_with_validation(
        self, document: dict[str, Any], char: str
    ) -> None:
        pattern = document["components"]["schemas"]["UserIn"]["properties"]["email"]["pattern"]
        email = f"a{char}b@example.com"
        documented = jsonschema_rs.Draft202012Validator({"pattern": pattern}).is_valid(email)
        try:
            UserIn(email=email, name="Ada")
        except ValidationError:
            accepted = False
        else:
            accepted = True
        assert documented == accepted

    def test_a_batch_has_at_least_one_event(self, document: dict[str, Any]) -> None:
        assert (
            document["components"]["schemas"]["EventBatchIn"]["properties"]["events"]["minItems"]
            == 1
        )


def test_405_names_every_allowed_method(tmp_path: Path) -> None:
    with HookdProcess(f"sqlite:///{tmp_path / 'hookd.db'}", tmp_path) as hookd:
        served = httpx.get(f"{hookd.url}/openapi.json").json()
        assert "bearer" in served["components"]["securitySchemes"]
        r = httpx.put(f"{hookd.url}/v1/apps/default/webhooks")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, POST"
