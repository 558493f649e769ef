"""Runs the API: `python -m services.api` (settings from the environment)."""

import logging.config
import os
import sys

from aiohttp import web

from services.api.app import SERVICE, build
from services.api.config import ApiSettings
from services.shared.database import SchemaOutdatedError
from services.shared.logs import logging_config

if __name__ == "__main__":
    settings = ApiSettings.from_env(os.environ)
    logging.config.dictConfig(logging_config(SERVICE))
    try:
        web.run_app(build(settings), host=settings.host, port=settings.port, print=None)
    except SchemaOutdatedError as error:
        sys.exit(f"jobstream {SERVICE} did not start: {error}")
