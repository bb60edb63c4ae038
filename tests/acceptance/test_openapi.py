"""The OpenAPI document describes what the server answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookd.api.app import create_app
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


def test_405_names_every_allowed_method(tmp_path: Path) -> None:
    with HookdProcess(f"sqlite:///{tmp_path / 'hookd.db'}", tmp_path) as hookd:
        served = httpx.get(f"{hookd.url}/openapi.json").json()
        assert "bearer" in served["components"]["securitySchemes"]
        r = httpx.put(f"{hookd.url}/v1/apps/default/webhooks")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, POST"
