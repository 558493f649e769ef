"""Runs the router: `python -m services.router` (settings from the environment)."""

import os

from services.router.app import SERVICE, build
from services.router.config import RouterSettings
from services.shared.streaming import run_worker

if __name__ == "__main__":
    run_worker(build(RouterSettings.from_env(os.environ)), SERVICE)
