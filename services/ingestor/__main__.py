"""Runs the ingestor: `python -m services.ingestor` (settings from the environment)."""

import os

from services.ingestor.app import SERVICE, build
from services.ingestor.config import IngestorSettings
from services.shared.streaming import run_worker

if __name__ == "__main__":
    run_worker(build(IngestorSettings.from_env(os.environ)), SERVICE)
