"""The cheapest question that proves the database answers: `SELECT 1`, with a deadline."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from hookd.store.engine import Engines

__all__ = ["ping"]


async def ping(engines: Engines, *, timeout: float) -> None:
    """Return when the database answered `SELECT 1` within `timeout` seconds; raise otherwise."""

    async def ask() -> None:
        async with engines.read.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    await asyncio.wait_for(ask(), timeout)
