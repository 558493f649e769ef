"""`/docs` is a real OpenAPI viewer (Swagger UI), its assets served by the API itself."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Request, expect

from tests.browser.conftest import Console

pytestmark = pytest.mark.e2e


async def test_swagger_ui_renders_the_document_from_the_api_alone(
    page: Page, console: Console
) -> None:
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith(console.api_url):
            elsewhere.append(request.url)

    page.on("request", note)
    await page.goto("/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "jobstream control plane"
    )
    await expect(
        page.locator(".opblock-summary-path", has_text="/review/{job_hash}/approve")
    ).to_have_count(1)
    await expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert elsewhere == []  # no CDN: nothing but the API was asked
