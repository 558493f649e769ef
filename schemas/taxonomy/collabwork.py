"""Reads a taxonomy from HTTP endpoints in the original system's (CollabWORK) shape.

Two endpoints, as in the reference system (§4.2): `.../industry/sector-industry` answers the
hierarchy, and `.../industry/full-hierarchy-list?industry_id=<id>` answers the job-function
objects of one industry (`id`, `name`, and the nested `discipline_detail → ... →
sector_detail` chain). The hierarchy's exact shape was never documented, so the parser
accepts a list of sectors (or an object holding it under `sectors`/`items`/`data`), each
with its groups and each group with its industries, under the usual child keys.

Unlike the original, a failed industry fetch fails the load instead of silently yielding
an industry with no functions.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import orjson

from schemas.taxonomy.model import (
    Industry,
    IndustryGroup,
    JobFunction,
    Sector,
    Taxonomy,
    TaxonomyError,
)

HIERARCHY_PATH = "sector-industry"
FUNCTIONS_PATH = "full-hierarchy-list"
_NAME_KEYS = ("name", "title", "label")
_GROUP_KEYS = ("industry_groups", "groups", "children")
_INDUSTRY_KEYS = ("industries", "children")
_WRAPPER_KEYS = ("sectors", "items", "data")
_NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


async def fetch_collabwork_taxonomy(
    url: str,
    *,
    functions_url: str | None = None,
    timeout_s: float = 30.0,
    concurrency: int = 15,
    attempts: int = 3,
    retry_delay_s: float = 1.0,
) -> Taxonomy:
    """Fetch the hierarchy at `url` and every industry's job functions, as one Taxonomy."""
    functions_url = functions_url or _sibling_functions_url(url)
    fetcher = _Fetcher(attempts, retry_delay_s)
    client_timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        hierarchy = await fetcher.get_json(session, url, {})
        sectors, groups, industries = parse_hierarchy(hierarchy)
        limit = asyncio.Semaphore(concurrency)

        async def functions_of(industry_id: int) -> Any:
            async with limit:
                params = {"industry_id": str(industry_id)}
                return await fetcher.get_json(session, functions_url, params)

        answers = await asyncio.gather(*(functions_of(i.id) for i in industries))
    per_industry = {i.id: parse_functions(a) for i, a in zip(industries, answers, strict=True)}
    return _assemble(hierarchy, sectors, groups, industries, per_industry)


def _sibling_functions_url(url: str) -> str:
    base = url.partition("?")[0]
    if not base.rstrip("/").endswith(HIERARCHY_PATH):
        raise TaxonomyError(f"cannot derive the job-functions endpoint from {url}")
    return base.rstrip("/")[: -len(HIERARCHY_PATH)] + FUNCTIONS_PATH


class _Fetcher:
    """GET JSON with retries on network errors only; HTTP errors fail at once."""

    def __init__(self, attempts: int, retry_delay_s: float) -> None:
        self._attempts = max(1, attempts)
        self._retry_delay_s = retry_delay_s

    async def get_json(
        self, session: aiohttp.ClientSession, url: str, params: Mapping[str, str]
    ) -> Any:
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._get_once(session, url, params)
            except _NETWORK_ERRORS as exc:
                if attempt == self._attempts:
                    raise TaxonomyError(f"GET {url} failed: {exc!r}") from exc
                await asyncio.sleep(self._retry_delay_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _get_once(session: aiohttp.ClientSession, url: str, params: Mapping[str, str]) -> Any:
        async with session.get(url, params=params) as response:
            if response.status >= 400:
                raise TaxonomyError(f"GET {response.url} answered HTTP {response.status}")
            body = await response.read()
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TaxonomyError(f"GET {url} did not answer JSON") from exc


def parse_hierarchy(
    document: Any,
) -> tuple[list[Sector], list[IndustryGroup], list[Industry]]:
    sectors: list[Sector] = []
    groups: list[IndustryGroup] = []
    industries: list[Industry] = []
    for sector_node in _items(document, _WRAPPER_KEYS):
        sector = Sector(_id(sector_node), _name(sector_node))
        sectors.append(sector)
        for group_node in _children(sector_node, _GROUP_KEYS):
            group = IndustryGroup(_id(group_node), _name(group_node), sector.id)
            groups.append(group)
            industries.extend(
                Industry(_id(node), _name(node), group.id, sector.id)
                for node in _children(group_node, _INDUSTRY_KEYS)
            )
    if not industries:
        raise TaxonomyError("the industry hierarchy holds no industries")
    return sectors, groups, industries


def parse_functions(document: Any) -> list[JobFunction]:
    """Job-function objects of one industry; only `id` and a name are used."""
    return [
        JobFunction(_id(node), _function_name(node)) for node in _items(document, _WRAPPER_KEYS)
    ]


def _function_name(node: Mapping[str, Any]) -> str:
    for key in (*_NAME_KEYS, "job_function"):
        if isinstance(node.get(key), str) and node[key].strip():
            return str(node[key]).strip()
    discipline = node.get("discipline_detail")
    if isinstance(discipline, Mapping):
        return _name(discipline)
    raise TaxonomyError(f"job function {node.get('id')!r} has no name")


def _items(document: Any, wrapper_keys: tuple[str, ...]) -> Iterator[Mapping[str, Any]]:
    if isinstance(document, Mapping):
        document = next((document[k] for k in wrapper_keys if k in document), None)
    if not isinstance(document, list):
        raise TaxonomyError("expected a JSON list")
    for node in document:
        if not isinstance(node, Mapping):
            raise TaxonomyError("expected JSON objects in the list")
        yield node


def _children(node: Mapping[str, Any], keys: tuple[str, ...]) -> list[Mapping[str, Any]]:
    for key in keys:
        if isinstance(node.get(key), list):
            return list(_items(node[key], ()))
    return []


def _id(node: Mapping[str, Any]) -> int:
    value = node.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TaxonomyError(f"node without an integer id: {dict(node)!r:.120}")
    try:
        return int(value)
    except ValueError as exc:
        raise TaxonomyError(f"node id {value!r} is not an integer") from exc


def _name(node: Mapping[str, Any]) -> str:
    for key in _NAME_KEYS:
        if isinstance(node.get(key), str):
            return str(node[key]).strip()
    raise TaxonomyError(f"node {node.get('id')!r} has no name")


def _assemble(
    hierarchy: Any,
    sectors: list[Sector],
    groups: list[IndustryGroup],
    industries: list[Industry],
    per_industry: dict[int, list[JobFunction]],
) -> Taxonomy:
    functions = {f.id: f for fs in per_industry.values() for f in fs}
    allowed = {iid: frozenset(f.id for f in fs) for iid, fs in per_industry.items()}
    canonical = orjson.dumps(
        [hierarchy, {str(k): [f.id for f in v] for k, v in per_industry.items()}],
        option=orjson.OPT_SORT_KEYS,
    )
    return Taxonomy(
        version="collabwork-" + hashlib.sha256(canonical).hexdigest()[:10],
        sectors={s.id: s for s in sectors},
        groups={g.id: g for g in groups},
        industries={i.id: i for i in industries},
        functions=dict(sorted(functions.items())),
        allowed=allowed,
    )
