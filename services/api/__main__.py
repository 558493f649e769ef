"""Runs the API: `python -m services.api` (settings from the environment)."""

import logging.config
import os

from aiohttp import web

from services.api.app import SERVICE, build
from services.api.config import ApiSettings
from services.shared.logs import logging_config

if __name__ == "__main__":
    settings = ApiSettings.from_env(os.environ)
    logging.config.dictConfig(logging_config(SERVICE))
    web.run_app(build(settings), host=settings.host, port=settings.port, print=None)
