"""Every setting a service uses lives in its frozen settings object, read once in
`__main__`: the composition roots take that object and never read the environment."""

from __future__ import annotations

from cli.stack.config import PROJECT_ROOT
from services.api.config import ApiSettings
from services.ingestor.config import IngestorSettings

SERVICES = ("ingestor", "enricher", "router", "syncer", "api")


def test_the_pass1_dedupe_batch_is_a_setting() -> None:
    default = IngestorSettings.from_env({})
    assert (default.dedupe_batch_size, default.dedupe_batch_within_s) == (500, 0.2)
    chosen = IngestorSettings.from_env({"DEDUPE_BATCH_SIZE": "64", "DEDUPE_BATCH_WITHIN_S": "1"})
    assert (chosen.dedupe_batch_size, chosen.dedupe_batch_within_s) == (64, 1.0)


def test_the_apis_feed_guard_is_read_with_its_settings() -> None:
    settings = ApiSettings.from_env({"FEED_ALLOWED_HOSTS": "feeds.internal", "FEED_MAX_DEPTH": "9"})
    assert settings.feed.allowed_hosts == ("feeds.internal",)
    assert settings.feed.max_depth == 9


def test_no_composition_root_reads_the_environment() -> None:
    for service in SERVICES:
        source = (PROJECT_ROOT / "services" / service / "app.py").read_text()
        assert "os.environ" not in source and "getenv" not in source, service
