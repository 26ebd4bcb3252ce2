"""Ended sessions and old one-time links are pruned; live ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from patchbay.services.identity.housekeeping import prune
from patchbay.storage.models import MemberSession, OneTimeLink, utcnow


async def test_prune_removes_what_is_past_its_grace_and_keeps_the_rest(api):
    pf = api.platform
    org_id = pf.default_org_id
    member = await pf.members.create(org_id, email="ada@example.com", name="Ada", org_role="owner")
    live = await pf.sessions.start(org_id, member.id)
    ended = await pf.sessions.start(org_id, member.id)
    await pf.sessions.end(ended.token)
    expired = await pf.sessions.start(org_id, member.id)
    fresh_link = await pf.links.issue(org_id, "reset", ttl_seconds=3600, member_id=member.id)
    old_link = await pf.links.issue(org_id, "reset", ttl_seconds=3600, member_id=member.id)
    now = utcnow()
    async with pf.db.session() as s:
        row = await s.scalar(select(MemberSession).where(MemberSession.id == expired.id))
        row.expires_at = now - timedelta(days=2)
        link = await s.scalar(select(OneTimeLink).where(OneTimeLink.id == old_link.id))
        link.expires_at = now - timedelta(days=31)
        await s.commit()

    # an ended session is kept a day (then pruned), an expired one past a day goes now
    assert await prune(pf.db, now) == (1, 1)
    assert await prune(pf.db, now + timedelta(days=1, minutes=1)) == (1, 0)
    async with pf.db.session() as s:
        sessions = set((await s.scalars(select(MemberSession.id))).all())
        links = set((await s.scalars(select(OneTimeLink.id))).all())
    assert sessions == {live.id}
    assert fresh_link.id in links and old_link.id not in links
    # the live session still works
    api.client.cookies.set("patchbay_session", live.token)
    try:
        assert (await api.client.get("/core/v1/session")).status_code == 200
    finally:
        api.client.cookies.clear()
