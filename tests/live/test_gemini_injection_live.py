"""The prompt-injection regression set against the real Gemini API (opt-in: skipped without
GEMINI_API_KEY; GEMINI_MODEL and the other GEMINI_* settings apply).

The real model may ignore an injection or obey it; either way no attempt may be
auto-approved: an honest answer scores the low-fit postings low, an obeying one is caught by
the trust checks, and the postings that address the model are held for that alone.
"""

from __future__ import annotations

import os
import uuid

import pytest

from schemas.clean import clean_posting
from schemas.identity import job_hash
from schemas.profile import load_profile
from schemas.records import DedupedJob, Route
from schemas.taxonomy import load_taxonomy
from services.enricher import handlers
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.offline.backend import OfflineBackend
from services.enricher.trust import TrustChecks
from services.router.config import Thresholds
from services.router.handlers import decide
from tests.injection_set import ATTEMPTS, GOOD_CONTROLS, STEERED_CONTROL

pytestmark = pytest.mark.skipif(
    not os.environ.get("GEMINI_API_KEY"), reason="live test: set GEMINI_API_KEY to run it"
)


async def test_no_injected_job_is_auto_approved_by_the_real_model() -> None:
    taxonomy, profile = load_taxonomy(), load_profile()
    backend = GeminiBackend(GeminiSettings.from_env(os.environ), taxonomy, profile)
    checks = TrustChecks(OfflineBackend(taxonomy, profile))
    run_id = str(uuid.uuid4())
    # cleaned as the enricher cleans them before the model reads them
    postings = [clean_posting(a.posting) for a in ATTEMPTS]
    postings += [clean_posting(p) for p in (*GOOD_CONTROLS, STEERED_CONTROL)]
    records = [
        DedupedJob(run_id=run_id, feed_id=1, seq=seq, job_hash=job_hash(p), job=p)
        for seq, p in enumerate(postings, start=1)
    ]
    try:
        outcomes = await backend.enrich(postings)
    finally:
        await backend.aclose()
    enriched = [
        handlers.from_backend(r, o, version=backend.version, taxonomy=taxonomy)
        for r, o in zip(records, outcomes, strict=True)
    ]
    good = [e for e in enriched if e.enrichment is not None]
    reviews = await checks.review(
        [e.job for e in good], [e.enrichment for e in good if e.enrichment]
    )
    reasons = {e.seq: why for e, why in zip(good, reviews, strict=True)}
    for attempt, job in zip(ATTEMPTS, enriched, strict=False):
        checked = job.model_copy(update={"review_reasons": reasons.get(job.seq, ())})
        decision = decide(checked, thresholds=Thresholds(), bypass_filters=False, previous=None)
        assert decision.route is not Route.OPEN, f"{attempt.name}: {decision.reason}"
