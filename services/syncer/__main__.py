"""Runs the syncer: `python -m services.syncer` (settings from the environment)."""

import os

from services.shared.streaming import run_worker
from services.syncer.app import SERVICE, build
from services.syncer.config import SyncerSettings

if __name__ == "__main__":
    run_worker(build(SyncerSettings.from_env(os.environ)), SERVICE)
