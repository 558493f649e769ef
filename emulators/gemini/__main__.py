"""Runs the Gemini emulator: `python -m emulators.gemini --port P [--api-key KEY]`."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from aiohttp import web

from emulators.gemini.app import create_app, offline_backend
from emulators.gemini.caches import DEFAULT_MIN_TOKENS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulators.gemini", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument(
        "--api-key",
        default=os.environ.get("GEMINI_EMULATOR_API_KEY", ""),
        help="key to require in x-goog-api-key (default: $GEMINI_EMULATOR_API_KEY; none: any)",
    )
    parser.add_argument("--taxonomy", default=None, help="taxonomy file or URL (default: bundled)")
    parser.add_argument("--profile", default=None, help="audience profile file (default: bundled)")
    parser.add_argument(
        "--cache-min-tokens",
        type=int,
        default=DEFAULT_MIN_TOKENS,
        help=f"smallest explicit context cache created (default: {DEFAULT_MIN_TOKENS})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = create_app(
        offline_backend(args.taxonomy, args.profile),
        api_key=args.api_key,
        cache_min_tokens=args.cache_min_tokens,
    )
    web.run_app(app, host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
