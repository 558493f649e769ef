"""A feed URL's password and api_key never leave the ingestor unmasked.

The run fails (nothing listens on the port), so the URL is quoted in the fetch error; the
run report, the feed's last error, every service's log, the API's answers and the webhook
message built from the report must all show it masked.
"""

from __future__ import annotations

import json
import socket
import urllib.request
import uuid
from typing import Any

import pytest

from cli import control
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.records import RunStatus
from services.router.notifications import slack_message

pytestmark = pytest.mark.e2e

SECRETS = ("hunter2", "SECRETKEY")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _api_get(config: PipelineConfig, path: str) -> Any:
    request = urllib.request.Request(f"{config.api_url}{path}")  # noqa: S310
    request.add_header("Authorization", f"Bearer {config.api_token}")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.load(answer)


async def test_secrets_of_a_feed_url_appear_nowhere(
    stack: StackInfo, running_pipeline: PipelineConfig
) -> None:
    url = f"http://ann:hunter2@127.0.0.1:{_closed_port()}/feed.xml?api_key=SECRETKEY&page=1"
    masked = url.replace("ann:hunter2", "***").replace("SECRETKEY", "***").replace("=1", "=***")
    feed_id = await control.ensure_feed(
        stack.dsn, name=f"secret-{uuid.uuid4().hex[:8]}", source_url=url, mapping=None
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=120.0)
    assert report.run_status == RunStatus.FAILURE
    errors = report.error_summary
    assert any(masked in e for e in errors), errors  # the URL is named, masked
    seen = {
        "report": str(report),
        "webhook": json.dumps(slack_message(report), default=str),
        "feed": json.dumps(_api_get(running_pipeline, f"/feeds/{feed_id}")),
        "run": json.dumps(_api_get(running_pipeline, f"/runs/{run_id}")),
        "status": json.dumps(_api_get(running_pipeline, f"/execution-status/{feed_id}")),
        "feeds": json.dumps(_api_get(running_pipeline, "/feeds?limit=500")),
    }
    for log in running_pipeline.stack.logs_dir.glob("*.log"):
        seen[log.name] = log.read_text(errors="replace")
    leaks = [where for where, text in seen.items() if any(s in text for s in SECRETS)]
    assert leaks == []
    assert masked in seen["feed"] and masked in seen["run"]
