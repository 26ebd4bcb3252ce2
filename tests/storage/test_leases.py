"""The one lease helper (runs, trigger subscriptions, ``patchbay run``): a row is taken only
when nobody holds it, renewed and let go only by its holder, and free again once its lease
ran out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from patchbay.config import normalise_database_url
from patchbay.storage.db import Database
from patchbay.storage.leases import Leases
from patchbay.storage.models import UTCDateTime, utcnow

leased = Table(
    "leased_things",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("note", String(20), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
)


async def test_a_lease_is_taken_renewed_and_let_go_by_its_holder_only(database_url):
    db = Database(normalise_database_url(database_url))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(leased.metadata.create_all)
            await conn.execute(insert(leased), [{"id": 1}, {"id": 2}])
        mine = Leases(leased, "me", 30)
        theirs = Leases(leased, "them", 30)
        now = utcnow()

        async def run(statement) -> int:
            async with db.engine.begin() as conn:
                return (await conn.execute(statement)).rowcount

        async def holder(row_id: int):
            async with db.engine.connect() as conn:
                return (
                    await conn.execute(
                        select(leased.c.lease_owner, leased.c.lease_until, leased.c.note).where(
                            leased.c.id == row_id
                        )
                    )
                ).one()

        # taken when free, with the values asked for; not again while held
        assert await run(mine.claim(now, leased.c.id == 1, note="claimed")) == 1
        assert await holder(1) == ("me", now + timedelta(seconds=30), "claimed")
        assert await run(theirs.claim(now, leased.c.id == 1)) == 0
        assert await run(mine.claim(now, leased.c.id == 1)) == 0  # not even by its holder
        # renewed and let go by its holder only
        later = now + timedelta(seconds=10)
        assert await run(theirs.renew(later, leased.c.id == 1)) == 0
        assert await run(mine.renew(later, leased.c.id == 1)) == 1
        assert (await holder(1))[1] == later + timedelta(seconds=30)
        assert await run(theirs.release(leased.c.id == 1)) == 0
        assert (await holder(1))[0] == "me"
        # a lease that ran out is anyone's
        expired = later + timedelta(seconds=31)
        assert await run(theirs.claim(expired, leased.c.id.in_([1, 2]))) == 2
        assert await run(mine.renew(expired, leased.c.id == 1)) == 0  # it lost it
        assert await run(theirs.release(leased.c.id.in_([1, 2]))) == 2
        assert await holder(1) == (None, None, "claimed")
        # the free condition, for scans
        async with db.engine.connect() as conn:
            free = (await conn.execute(select(leased.c.id).where(mine.free(now)))).scalars()
            assert sorted(free) == [1, 2]
    finally:
        await db.dispose()
