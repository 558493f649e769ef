"""The one backoff rule every retrying caller waits by."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

from services.shared.retry import Backoff


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    delays = Backoff(0.5, 4.0).delays()
    assert list(itertools.islice(delays, 6)) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_long_outage_never_overflows_the_doubling() -> None:
    assert Backoff(0.5, 10.0).delay(5_000) == 10.0


def test_jitter_keeps_each_delay_between_half_and_all_of_it() -> None:
    low, high = Backoff(1.0, 10.0, rand=lambda: 0.0), Backoff(1.0, 10.0, rand=lambda: 1.0)
    assert [low.delay(n) for n in (1, 2, 3, 6)] == [0.5, 1.0, 2.0, 5.0]
    assert [high.delay(n) for n in (1, 2, 3, 6)] == [1.0, 2.0, 4.0, 10.0]


def test_a_servers_hint_is_never_undercut_nor_the_cap_exceeded() -> None:
    backoff = Backoff(1.0, 10.0)
    assert backoff.delay(1, hint_s=3.0) == 3.0
    assert backoff.delay(1, hint_s=99.0) == 10.0


def test_the_backoff_rule_is_written_once() -> None:
    """Every retrying caller waits by `services.shared.retry.Backoff`: no module defines a
    backoff class or a delay sequence of its own."""
    root = Path(__file__).resolve().parents[2]
    rule = root / "services" / "shared" / "retry.py"
    found = [
        f"{path.relative_to(root)}:{node.lineno}: {node.name}"
        for top in ("services", "cli")
        for path in sorted((root / top).rglob("*.py"))
        if path != rule
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name in {"Backoff", "delays"}
    ]
    assert found == []
