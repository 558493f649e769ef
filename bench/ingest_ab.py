"""A/B of the ingest suite's parse figure: this checkout against another one, on one feed.

The ingest suite's parse+normalise+hash rate is CPU time of one process, but on a shared
machine even CPU time drifts by 10% over minutes. Comparing two versions of the reader
therefore takes runs of both, alternated, on the same generated feed:

    git worktree add /tmp/jobstream-31ed7c7 31ed7c7     # the reader before #13
    python -m bench.ingest_ab /tmp/jobstream-31ed7c7 --jobs 100000 --runs 4
    python -m bench.ingest_ab /tmp/jobstream-31ed7c7 --jobs 1000000 --runs 3 \\
        --save bench/data/ingest-ab-31ed7c7.json

Each run is `python -m bench.ingest_bench parse FEED` (this interpreter) in the tree, with
the tree first on the path, so each side reads the feed with its own code; the feed is
`bench.feedgen`'s (seed 7, as the ingest suite's) and is deleted afterwards (`--feed` reads
an existing one instead). `--parallel` starts every run at once, so all of them meet the
same load (on a busy machine, a 1M-job run alone takes 20 minutes). `--save` merges the
figures of this size into a JSON file; the ingest suite shows the one committed for
31ed7c7 beside its own figures (`BASELINE`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.feedgen import write_feed

HERE = Path(__file__).resolve().parent.parent


def _parse_command(tree: Path, feed: Path) -> dict[str, Any]:
    return {
        "args": [sys.executable, "-m", "bench.ingest_bench", "parse", str(feed)],
        "cwd": tree,
        "env": {**os.environ, "PYTHONPATH": str(tree)},
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "text": True,
    }


def _result(tree: Path, returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    if returncode != 0:
        raise RuntimeError(f"parse in {tree} failed:\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def run_parse(tree: Path, feed: Path) -> dict[str, Any]:
    """One parse child in `tree`: its jobs, CPU and wall rates and peak RSS."""
    done = subprocess.run(**_parse_command(tree, feed), check=False)
    return _result(tree, done.returncode, done.stdout, done.stderr)


def _show(number: int, side: str, result: dict[str, Any]) -> None:
    print(
        f"run {number + 1} {side:5} {result['cpu_rate']:8,.0f} jobs/s CPU  "
        f"{result['wall_rate']:8,.0f} wall  {result['max_rss_mb']:6.1f} MB",
        file=sys.stderr,
    )


Summary = dict[str, Any]


def compare(
    other: Path,
    feed: Path,
    runs: int,
    *,
    parallel: bool = False,
    on_pair: Callable[[Summary], None] | None = None,
) -> Summary:
    """`runs` runs of each side on `feed`: alternated ("other" first), or all at once when
    `parallel` (then every run meets the same load); `on_pair` gets the summary so far
    after each pair of alternated runs."""
    sides: dict[str, list[dict[str, Any]]] = {"other": [], "this": []}
    trees = (("other", other), ("this", HERE))
    if parallel:
        children = [
            (number, side, tree, subprocess.Popen(**_parse_command(tree, feed)))
            for number in range(runs)
            for side, tree in trees
        ]
        for number, side, tree, child in children:
            stdout, stderr = child.communicate()
            sides[side].append(_result(tree, child.returncode, stdout, stderr))
            _show(number, side, sides[side][-1])
    else:
        for number in range(runs):
            for side, tree in trees:
                sides[side].append(run_parse(tree, feed))
                _show(number, side, sides[side][-1])
            if on_pair is not None:  # a long A/B keeps what it measured if it is stopped
                on_pair({side: _summary(results) for side, results in sides.items()})
    return {side: _summary(results) for side, results in sides.items()}


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["cpu_rate"] for r in results]
    peaks = [r["max_rss_mb"] for r in results]
    return {
        "cpu_rate": [round(rate) for rate in rates],
        "cpu_rate_median": round(statistics.median(rates)),
        "max_rss_mb": [round(peak, 1) for peak in peaks],
        "max_rss_mb_max": round(max(peaks), 1),
    }


def _commit(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def save(path: Path, other: Path, jobs: int, summary: Summary, *, parallel: bool = False) -> None:
    document: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    document.setdefault("sizes", {})[str(jobs)] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": "all at once" if parallel else "alternated",
        "baseline_commit": _commit(other),
        "this_commit": _commit(HERE),
        "baseline": summary["other"],
        "this": summary["this"],
    }
    document["command"] = (
        "python -m bench.ingest_ab OTHER_TREE --jobs N --runs R --parallel "
        "[--feed FEED] --save bench/data/ingest-ab-31ed7c7.json (see bench/ingest_ab.py)"
    )
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_ab", description=__doc__)
    parser.add_argument("other", type=Path, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallel", action="store_true", help="start every run at once")
    parser.add_argument("--feed", type=Path, help="an existing feed of --jobs jobs (kept)")
    parser.add_argument("--save", type=Path, help="merge the figures into this JSON file")
    args = parser.parse_args(argv)
    other: Path = args.other.resolve()
    saving: Path | None = args.save

    def keep(summary: Summary) -> None:
        if saving is not None:
            save(saving, other, args.jobs, summary, parallel=args.parallel)

    if args.feed is not None:
        summary = compare(other, args.feed.resolve(), args.runs, parallel=args.parallel)
    else:
        with tempfile.TemporaryDirectory(prefix="jobstream-ingest-ab-") as work:
            feed = Path(work) / f"feed-{args.jobs}.xml"
            write_feed(feed, args.jobs)
            summary = compare(other, feed, args.runs, parallel=args.parallel, on_pair=keep)
    keep(summary)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
