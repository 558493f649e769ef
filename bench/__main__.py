"""`python -m bench [--only SUITE ...] [--quick]`: run the suites, write and print the results."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bench.report import Measurement, show, write
from bench.suites import SUITES

Runner = Callable[[bool], Coroutine[Any, Any, list[Measurement]]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(SUITES), help="run only these")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    args = parser.parse_args(argv)
    names = args.only or list(SUITES)
    measurements: list[Measurement] = []
    for name in names:
        runner: Runner = importlib.import_module(SUITES[name]).run
        print(f"running {name}…", file=sys.stderr)
        measurements.extend(asyncio.run(runner(args.quick)))
    path = write(measurements)
    show(measurements)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
