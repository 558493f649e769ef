"""Loads a taxonomy from the bundled file, another file, or an HTTP endpoint."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from schemas.taxonomy.collabwork import fetch_collabwork_taxonomy
from schemas.taxonomy.model import Taxonomy, TaxonomyError

BUNDLED_TAXONOMY = Path(__file__).resolve().parent.parent / "data" / "taxonomy-v1.json.gz"
_GZIP_MAGIC = b"\x1f\x8b"


def load_taxonomy(source: str | Path | None = None) -> Taxonomy:
    """The taxonomy at `source`: None for the bundled one, a file path, or an http(s) URL.

    A URL names the original system's `sector-industry` endpoint (see `collabwork`). From
    inside a running event loop prefer `await load_taxonomy_async(url)`.
    """
    if source is None:
        return _bundled()
    if is_url(source):
        return _run_blocking(load_taxonomy_async(str(source)))
    return load_taxonomy_file(Path(source))


async def load_taxonomy_async(source: str | Path | None = None) -> Taxonomy:
    if source is not None and is_url(source):
        return await fetch_collabwork_taxonomy(str(source))
    return load_taxonomy(source)


def load_taxonomy_file(path: Path) -> Taxonomy:
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from exc
    if payload.startswith(_GZIP_MAGIC):
        payload = gzip.decompress(payload)
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise TaxonomyError(f"taxonomy {path} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise TaxonomyError(f"taxonomy {path} is not a JSON object")
    return Taxonomy.from_document(document)


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


@lru_cache(maxsize=1)
def _bundled() -> Taxonomy:
    # immutable, and every service loads it: parse once per process
    return load_taxonomy_file(BUNDLED_TAXONOMY)


def _run_blocking(coroutine: Coroutine[Any, Any, Taxonomy]) -> Taxonomy:
    # a worker thread owns its own event loop, so this works inside a running loop too
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
