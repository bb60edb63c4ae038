"""Log lines never carry hookd secrets; libraries stay quiet at hookd's debug level."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from hookd.logs import RedactSecrets, configure, redact, remember_secret


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hookd_level = logging.getLogger("hookd").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("hookd").setLevel(hookd_level)


def _capture(logger: logging.Logger, msg: str, *args: object) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    logger.addHandler(handler)
    try:
        logger.warning(msg, *args)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


class TestRedact:
    def test_secrets_and_keys_in_message_and_args_are_redacted(self) -> None:
        log = logging.getLogger("hookd.test.redact")
        line = _capture(log, "params %s key=%s", ("whsec_c2VjcmV0IGtleQ==",), "hk_abc123XYZ")
        assert "whsec_" not in line and "hk_abc" not in line
        assert line.count("[redacted]") == 2

    def test_public_keys_are_kept(self) -> None:
        assert redact("whpk_abcdef") == "whpk_abcdef"

    def test_remembered_header_values_are_redacted(self) -> None:
        remember_secret("Bearer s3cr3t-token-value")
        assert "s3cr3t" not in redact("headers={'Authorization': 'Bearer s3cr3t-token-value'}")


class TestLevels:
    @pytest.mark.usefixtures("restore_logging")
    def test_debug_applies_to_hookd_only(self) -> None:
        configure("debug")
        assert logging.getLogger("hookd.delivery").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)
        assert logging.getLogger("aiosqlite").isEnabledFor(logging.WARNING)

    @pytest.mark.usefixtures("restore_logging")
    def test_libraries_level_can_be_asked_for(self) -> None:
        configure("info", "debug")
        assert logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("hookd").isEnabledFor(logging.DEBUG)
