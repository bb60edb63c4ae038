"""Credential headers are masked by default, in responses and attempt logs."""

from __future__ import annotations

import pytest

from hookd.api.schemas import WebhookOut
from hookd.delivery.request import OutgoingRequest, loggable_headers
from hookd.domain.models import Webhook
from hookd.domain.secrets import is_secret_header


class TestIsSecretHeader:
    @pytest.mark.parametrize(
        "name",
        [
            "Authorization",
            "proxy-authorization",
            "COOKIE",
            "Set-Cookie",
            "X-Api-Key",
            "X-Auth-Token",
            "X-Client-Secret",
            "X-Password",
        ],
    )
    def test_secret_by_default(self, name: str) -> None:
        assert is_secret_header(name)

    @pytest.mark.parametrize("name", ["Content-Type", "X-Job", "User-Agent", "webhook-id"])
    def test_plain_headers_stay_visible(self, name: str) -> None:
        assert not is_secret_header(name)

    def test_user_can_list_more_in_any_case(self) -> None:
        assert is_secret_header("X-Tenant", ["x-tenant"])
        assert not is_secret_header("X-Tenant", ["X-Other"])


class TestMasking:
    HEADERS = {"Authorization": "Bearer s3cr3t", "X-Job": "22739", "X-Tenant": "acme"}

    def test_webhook_response_masks_authorization_not_listed(self) -> None:
        wh = Webhook(
            id="wh_1",
            app_id="app_1",
            name="n",
            url="https://example.com",
            events=("a.b",),
            headers=self.HEADERS,
            secret_headers=("X-Tenant",),
        )
        out = WebhookOut.of(wh)
        assert out.headers == {"Authorization": "••••••", "X-Job": "22739", "X-Tenant": "••••••"}

    def test_attempt_log_masks_authorization_not_listed(self) -> None:
        request = OutgoingRequest(
            method="POST", url="https://example.com", headers=self.HEADERS, body=b""
        )
        logged = loggable_headers(request)
        assert logged["Authorization"] == "••••••"
        assert logged["X-Job"] == "22739"
        assert logged["X-Tenant"] == "acme"
