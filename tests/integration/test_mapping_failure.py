"""A feed whose mapping cannot be used fails its run at once, with the reason (real
PostgreSQL; the ingestor's and the router's own code, what they publish recorded)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cli.stack import StackInfo
from schemas.records import FeedRequested, IngestFinished, RequestReason, RunStarted, RunStatus
from services.ingestor.adapters.feeds_repository import FeedsRepository
from services.ingestor.adapters.seen_repository import SeenRepository
from services.ingestor.config import IngestorSettings
from services.ingestor.service import Ingestor
from services.router.config import RouterSettings
from services.router.service import Router
from services.shared.database import Database
from services.shared.settings import Secret
from tests.integration.test_run_guard import RecordingPublisher

pytestmark = pytest.mark.integration


class IngestorPublisher(RecordingPublisher):
    async def drain(self, *, keep: int) -> None:
        return None


@pytest.fixture(scope="module")
async def database(stack: StackInfo) -> AsyncIterator[Database]:
    db = Database(Secret(stack.dsn), min_size=1, max_size=2)
    yield db
    await db.close()


async def test_an_unusable_mapping_fails_the_run_at_once_with_the_reason(
    stack: StackInfo, database: Database
) -> None:
    async with database.connection() as conn:
        feed_id = int(
            await conn.fetchval(
                "INSERT INTO feeds (name, source_url, mapping) VALUES "
                "('bad mapping', '/nonexistent/feed.xml', $1) RETURNING id",
                {"format": "yaml"},
            )
        )
    published = IngestorPublisher()
    ingestor = Ingestor(
        IngestorSettings.from_env({"DATABASE_URL": stack.dsn}),
        FeedsRepository(database),
        SeenRepository(database),
        published,
    )
    run_id = str(uuid.uuid4())
    request = FeedRequested(
        run_id=run_id, feed_id=feed_id, reason=RequestReason.API, requested_at=datetime.now(UTC)
    )
    await ingestor.run(request)  # returns: nothing for the retry and dead-letter path to do

    started, finished = (record for _, record in published.sent)
    assert isinstance(started, RunStarted) and isinstance(finished, IngestFinished)
    assert (finished.emitted, finished.fetch_status) == (0, "failed")
    assert finished.error is not None
    assert finished.error.startswith("mapping: the feed's mapping is invalid: unknown format")

    router = Router(RouterSettings.from_env({"DATABASE_URL": stack.dsn}), database, published)
    await router.follow(started)
    await router.follow(finished)
    async with database.connection() as conn:
        report = await conn.fetchrow("SELECT * FROM execution_reports WHERE run_id = $1", run_id)
        feed = await conn.fetchrow("SELECT * FROM feeds WHERE id = $1", feed_id)
    assert report is not None and feed is not None
    assert report["run_status"] == RunStatus.FAILURE
    assert report["error_summary"][0] == finished.error
    assert feed["last_run_status"] == RunStatus.FAILURE and feed["error_count"] == 1
