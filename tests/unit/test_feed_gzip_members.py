"""A gzip file of several members is read whole, whatever the members' sizes."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from services.ingestor.feeds import FeedReader, ParsedJob
from tests.feed_sources import local_settings


async def _titles(path: Path) -> tuple[list[str], str]:
    reader = FeedReader(str(path), mapping=None, settings=local_settings())
    titles = [item.job.title async for item in reader if isinstance(item, ParsedJob)]
    return titles, reader.stats.fetch_status


async def test_a_member_ending_on_the_output_limit_does_not_stall_the_read(
    tmp_path: Path,
) -> None:
    # 16 MiB of spaces is a whole number of the inflater's 64 KiB output pieces: the member
    # ends exactly on the limit, with the next members still unread behind it
    members = [
        b"<source><job><title>Line Cook</title><description>Cooks.</description></job>",
        b" " * 16 * 1024**2,
        b"<job><title>Baker</title><description>Bakes.</description></job></source>",
    ]
    path = tmp_path / "members.xml.gz"
    path.write_bytes(b"".join(gzip.compress(member) for member in members))

    titles, status = await asyncio.wait_for(_titles(path), timeout=60)

    assert (titles, status) == (["Line Cook", "Baker"], "ok")
