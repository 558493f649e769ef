"""Runs the Xano emulator: `python -m emulators.xano --port P --data FILE [--rate-limit free]`."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from emulators.xano.app import create_app
from emulators.xano.settings import DEFAULT_BASE_PATH, FREE_PLAN, EmulatorSettings, RateLimit


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulators.xano", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--data", type=Path, default=None, help="JSON file the records live in")
    parser.add_argument("--base-path", default=DEFAULT_BASE_PATH)
    parser.add_argument(
        "--rate-limit",
        default="off",
        help="'free' (10 requests / 20 s), 'off', or 'N/SECONDS' such as 10/0.5",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("XANO_EMULATOR_TOKEN") or None,
        help="bearer token to require (default: $XANO_EMULATOR_TOKEN; none: open)",
    )
    return parser.parse_args(argv)


def rate_limit_from(text: str) -> RateLimit | None:
    """Reads the --rate-limit option."""
    if text == "off":
        return None
    if text == "free":
        return FREE_PLAN
    requests, _, seconds = text.partition("/")
    try:
        return RateLimit(requests=int(requests), window_seconds=float(seconds))
    except ValueError as exc:
        raise SystemExit(f"--rate-limit must be 'free', 'off' or N/SECONDS, got {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = EmulatorSettings(
        base_path=args.base_path,
        data_file=args.data,
        token=args.token,
        rate_limit=rate_limit_from(args.rate_limit),
    )
    web.run_app(create_app(settings), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
