"""One enricher replica as its own OS process, for the shared-budget test: the Gemini backend
(real google-genai client) on its own connection pool, booking through the shared budget.

    python -m tests.budget_replica DSN BASE_URL SCOPE RPM WINDOW_S REPLICA JOBS

Prints "ready" once set up, waits for a line on stdin (so that several replicas start sending
together, not staggered by their start-up), then prints how many jobs it enriched and exits.
"""

from __future__ import annotations

import asyncio
import sys

from schemas.profile import load_profile
from schemas.records import JobPosting
from schemas.taxonomy import load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate, SharedBudget
from services.shared.database import Database
from services.shared.settings import Secret


async def main(dsn: str, base_url: str, scope: str, rpm: int, window_s: float,
               replica: int, jobs: int) -> int:  # fmt: skip
    db = Database(Secret(dsn), max_size=2)
    budget = SharedBudget(db, scope, rpm, 10**9, hold_s=30.0, window_s=window_s)
    settings = GeminiSettings(api_key="k", base_url=base_url, batch_size=1, function_batch_size=1)
    backend = GeminiBackend(
        settings, load_taxonomy(), load_profile(), gate=CallGate(budget, asyncio.Semaphore(4))
    )
    postings = [
        JobPosting(
            title=f"Registered Nurse {replica}-{n}",
            company_name="Mercy General Hospital",
            description_html="We are hiring a registered nurse for our hospital. " * 4,
        )
        for n in range(jobs)
    ]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    try:
        outcomes = await backend.enrich(postings)
    finally:
        await backend.aclose()
        await db.close()
    return sum(1 for outcome in outcomes if outcome.enrichment is not None)


if __name__ == "__main__":
    dsn, base_url, scope, rpm, window_s, replica, jobs = sys.argv[1:8]
    done = asyncio.run(
        main(dsn, base_url, scope, int(rpm), float(window_s), int(replica), int(jobs))
    )
    print(done)
