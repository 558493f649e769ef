"""Where the tests' feeds come from: the directories and hosts the tests' settings allow.

Feed reading refuses local files outside its configured directories and loopback or private
addresses unless allowed (`services/ingestor/feeds/guard.py`); the tests configure both,
as a deployment would, rather than weaken the checks.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from cli.stack.config import PROJECT_ROOT
from services.ingestor.feeds import FeedSettings

DATA = Path(__file__).parent / "data" / "feeds"
EXAMPLES = PROJECT_ROOT / "examples" / "feeds"
# the tests' own data, the demo's feeds, and pytest's tmp_path directories
LOCAL_FEED_DIRS = (DATA, EXAMPLES, Path(tempfile.gettempdir()))
LOOPBACK_HOSTS = ("127.0.0.1",)  # the tests' own HTTP servers


def local_settings(**changes: Any) -> FeedSettings:
    """`FeedSettings` for reading the tests' feeds (local files and loopback servers)."""
    return FeedSettings(
        **{"local_dirs": LOCAL_FEED_DIRS, "allowed_hosts": LOOPBACK_HOSTS, **changes}
    )


def pipeline_feed_env() -> dict[str, str]:
    """The same, as the ingestor's environment."""
    return {
        "FEED_LOCAL_DIRS": os.pathsep.join(str(d) for d in LOCAL_FEED_DIRS),
        "FEED_ALLOWED_HOSTS": ",".join(LOOPBACK_HOSTS),
    }
