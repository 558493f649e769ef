"""The Faust surface `services.shared.faust_compat` relies on, pinned to the Faust version it
was written against: an upgrade that changes any of it fails here, loudly, first."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import faust

from services.shared import faust_compat

SERVICES = Path(__file__).resolve().parents[2] / "services"


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


def test_no_other_module_touches_faust_internals() -> None:
    internals = re.compile(
        r"_current_event|faust\.streams|producer_only|app\.producer\.|table\.data|\.monitor\b"
    )
    offenders = [
        str(path.relative_to(SERVICES))
        for path in SERVICES.rglob("*.py")
        if path.name != "faust_compat.py" and internals.search(path.read_text())
    ]
    assert offenders == []
