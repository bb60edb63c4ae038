"""hookd's Python client: the API (sync and async) and signature checks for receivers.

    Client, AsyncClient     the API on httpx (client.sync, client.asynchronous),
                            both sending the calls of client.calls
    HookdError              an error answer: status, code, message, details
    verify, InvalidSignature
                            check a delivered request (client.signatures); needs no httpx

`verify` is importable without httpx installed: the clients load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookd.client.errors import HookdError, InvalidSignature
from hookd.client.signatures import verify

if TYPE_CHECKING:
    from hookd.client.asynchronous import AsyncClient
    from hookd.client.sync import Client

__all__ = ["AsyncClient", "Client", "HookdError", "InvalidSignature", "verify"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from hookd.client.sync import Client

        return Client
    if name == "AsyncClient":
        from hookd.client.asynchronous import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'hookd.client' has no attribute {name!r}")
