"""Secrets by reference: read `{env: NAME}` or `{file: path}` when a file is applied."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from hookd.declarative.model import Problem, SecretRef

__all__ = ["Resolver", "env_name"]

MAX_SECRET_BYTES = 8192


class Resolver:
    """Read referenced secrets; collect a Problem for each that cannot be read."""

    def __init__(self, base: Path, environ: Mapping[str, str] | None = None) -> None:
        self._base = base
        self._environ = os.environ if environ is None else environ
        self.problems: list[Problem] = []

    def value(self, ref: SecretRef, path: str) -> str | None:
        """Return the secret, or None (and a Problem) when it cannot be read."""
        if ref.env is not None:
            found = self._environ.get(ref.env)
            if found is None:
                return self._fail(f"{path}.env", f"environment variable {ref.env} is not set")
            text, where = found, f"{path}.env"
        else:
            assert ref.file is not None
            where = f"{path}.file"
            target = Path(ref.file).expanduser()
            if not target.is_absolute():
                target = self._base / target
            try:
                if target.stat().st_size > MAX_SECRET_BYTES:
                    return self._fail(where, f"{ref.file} is larger than 8 KiB")
                text = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                return self._fail(where, f"cannot read {ref.file}: {reason}")
        text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            return self._fail(where, "the referenced secret is empty")
        return text

    def _fail(self, path: str, message: str) -> str | None:
        self.problems.append(Problem(path, message))
        return None


def env_name(*parts: str) -> str:
    """Return an environment variable name made of `parts` (HOOKD_SECRET_BILLING_LEDGER)."""
    joined = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") for p in parts if p)
    return joined.upper()
