"""The Faust surface `services.shared.faust_compat` relies on, pinned to the Faust version it
was written against: an upgrade that changes any of it fails here, loudly, first."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import faust

from services.shared import faust_compat

ROOT = Path(__file__).resolve().parents[2]


def test_faust_is_the_version_the_compat_module_was_written_against() -> None:
    assert version("faust-streaming") == faust_compat.FAUST_VERSION


def test_producer_only_mode_starts_the_web_server_and_producer_and_no_consumer() -> None:
    app = faust.App("jobstream-compat-test", broker="kafka://127.0.0.1:1", web_enabled=True)
    faust_compat.shell_only(app)
    started = list(app.boot_strategy.producer_only())
    assert app.producer_only is True
    assert app.web in started and app.producer in started
    assert app.consumer not in started and app.agents not in started


def test_the_producer_send_takes_topic_key_value_partition_timestamp_headers() -> None:
    from faust.transport.drivers.aiokafka import Producer

    names = list(inspect.signature(Producer.send).parameters)
    assert names[:7] == ["self", "topic", "key", "value", "partition", "timestamp", "headers"]


INTERNALS = re.compile(
    r"_current_event|\.data\[|faust\.streams|producer_only|app\.producer\.|table\.data|\.monitor\b"
)


def test_no_other_module_touches_faust_internals() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for top in ("services", "cli")
        for path in (ROOT / top).rglob("*.py")
        if path.name != "faust_compat.py" and INTERNALS.search(path.read_text())
    ]
    assert offenders == []


def test_the_internals_scan_finds_an_event_and_a_table_write() -> None:
    assert INTERNALS.search("event = self._current_event()")
    assert INTERNALS.search("table.data[key] = value")
    assert not INTERNALS.search("groups[key] = value")
