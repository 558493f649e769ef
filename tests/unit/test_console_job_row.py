"""The console's job page reads a typed `JobRow`: every field its template shows is a column the
row selects (Jinja renders a missing attribute as nothing, so a gap would pass unseen)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from schemas.job_tables import JOB_COLUMNS
from services.api.adapters.console_repository import JOB_VIEW, JobRow

TEMPLATE = Path(__file__).resolve().parents[2] / "services/api/templates/job.html"


def test_every_job_field_the_page_shows_is_in_the_row() -> None:
    shown = set(re.findall(r"\bjob\.([a-z_]+)", TEMPLATE.read_text(encoding="utf-8")))
    assert shown, "the scan found no job field in the template"
    assert shown - {f.name for f in fields(JobRow)} == set()


def test_the_row_selects_only_job_columns() -> None:
    assert set(JOB_VIEW.split(", ")) <= set(JOB_COLUMNS)
