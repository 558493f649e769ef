"""Runs the enricher: `python -m services.enricher` (settings from the environment)."""

import os

from services.enricher.app import SERVICE, build
from services.enricher.config import EnricherSettings
from services.shared.streaming import run_worker

if __name__ == "__main__":
    run_worker(build(EnricherSettings.from_env(os.environ)), SERVICE)
