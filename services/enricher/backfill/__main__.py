"""`python -m services.enricher.backfill [ID]`: drives backfill ID (default: every unfinished
Batch API backfill) with the enricher's settings from the environment; safe to kill and
start again."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from services.enricher.backfill import drive, drive_unfinished, plan_for
from services.enricher.config import EnricherSettings


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = EnricherSettings.from_env(os.environ)
    plan = plan_for(settings)
    if argv:
        return 0 if asyncio.run(drive(settings, int(argv[0]), plan)) else 3
    asyncio.run(drive_unfinished(settings, plan))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
