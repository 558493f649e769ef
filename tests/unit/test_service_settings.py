"""Every setting a service uses lives in its frozen settings object, read once in
`__main__`: the composition roots take that object and never read the environment."""

from __future__ import annotations

from cli.stack.config import PROJECT_ROOT
from services.api.config import ApiSettings
from services.ingestor.config import IngestorSettings


def test_the_pass1_dedupe_batch_is_a_setting() -> None:
    default = IngestorSettings.from_env({})
    assert (default.dedupe_batch_size, default.dedupe_batch_within_s) == (500, 0.2)
    chosen = IngestorSettings.from_env({"DEDUPE_BATCH_SIZE": "64", "DEDUPE_BATCH_WITHIN_S": "1"})
    assert (chosen.dedupe_batch_size, chosen.dedupe_batch_within_s) == (64, 1.0)


def test_the_apis_feed_guard_is_read_with_its_settings() -> None:
    settings = ApiSettings.from_env({"FEED_ALLOWED_HOSTS": "feeds.internal", "FEED_MAX_DEPTH": "9"})
    assert settings.feed.allowed_hosts == ("feeds.internal",)
    assert settings.feed.max_depth == 9


def test_only_the_entry_points_read_the_environment() -> None:
    """Settings are read once, in `__main__`; nothing below it looks at os.environ."""
    readers = [
        path.relative_to(PROJECT_ROOT)
        for path in (PROJECT_ROOT / "services").rglob("*.py")
        if path.name != "__main__.py"
        and ("os.environ" in (text := path.read_text()) or "getenv" in text)
    ]
    assert readers == []


def test_the_apis_mapping_preview_backend_is_read_with_its_settings() -> None:
    offline = ApiSettings.from_env({"AUDIENCE_PROFILE": "profile.yaml"}).preview
    assert (offline.name, offline.profile_path, offline.gemini) == ("offline", "profile.yaml", None)
    gemini = ApiSettings.from_env({"ENRICHMENT_BACKEND": "gemini", "GEMINI_API_KEY": "k"}).preview
    assert gemini.name == "gemini" and gemini.gemini is not None and gemini.gemini.api_key == "k"
