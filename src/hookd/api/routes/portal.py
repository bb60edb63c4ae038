"""Portal links: magic links that open one app's console for people without an account."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hookd.api.deps import AppDep, PrincipalDep, RuntimeDep
from hookd.api.schemas import Strict
from hookd.domain.envelope import rfc3339
from hookd.store.portal_links import PortalLink

router = APIRouter(prefix="/v1/apps/{app}/portal-links", tags=["portal"])


class PortalLinkIn(Strict):
    expires_in: float | None = Field(
        default=None, description="Seconds the link lives (default 3600, at most the maximum)."
    )
    frame_origin: str | None = Field(
        default=None, description="The origin allowed to show the portal in an iframe."
    )


class PortalLinkOut(BaseModel):
    id: str
    expires_at: str
    created_at: str
    frame_origin: str | None
    revoked: bool

    @classmethod
    def of(cls, link: PortalLink) -> PortalLinkOut:
        return cls(
            id=link.id,
            expires_at=rfc3339(link.expires_at),
            created_at=rfc3339(link.created_at),
            frame_origin=link.frame_origin,
            revoked=link.revoked_at is not None,
        )


class PortalLinkCreated(PortalLinkOut):
    url: str = Field(description="Open it (or put it in an iframe); shown once.")


@router.post("", status_code=201)
async def create_portal_link(
    app: AppDep, rt: RuntimeDep, who: PrincipalDep, body: PortalLinkIn | None = None
) -> PortalLinkCreated:
    """Make a link that opens this app's console without an account (app owner or admin)."""
    wanted = body or PortalLinkIn()
    link, token = await rt.portal.create(
        who, app.id, expires_in=wanted.expires_in, frame_origin=wanted.frame_origin
    )
    url = f"{rt.settings.base_url}/console/portal/{token}"
    return PortalLinkCreated(**PortalLinkOut.of(link).model_dump(), url=url)


@router.get("")
async def list_portal_links(app: AppDep, rt: RuntimeDep, who: PrincipalDep) -> list[PortalLinkOut]:
    """The app's portal links, newest first (never their tokens)."""
    return [PortalLinkOut.of(link) for link in await rt.portal.links(who, app.id)]


@router.delete("/{link_id}", status_code=204)
async def revoke_portal_link(link_id: str, app: AppDep, rt: RuntimeDep, who: PrincipalDep) -> None:
    """Revoke a link: sessions opened with it stop working at their next request."""
    await rt.portal.revoke(who, app.id, link_id)
