"""The taxonomy: stable ids from the sources, a consistent tree, and every way to load it."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cli.stack.config import PROJECT_ROOT
from schemas.taxonomy import (
    BUNDLED_TAXONOMY,
    Taxonomy,
    TaxonomyError,
    load_taxonomy,
    load_taxonomy_async,
)
from schemas.taxonomy.build import build_taxonomy, encode, function_id_of, singular

# shared/ sits beside the project root, on developers' machines and in CI alike.
SOURCE = PROJECT_ROOT.parent / "shared" / "data" / "taxonomy"


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def test_bundled_file_is_what_the_build_produces_from_the_sources() -> None:
    if not SOURCE.exists():
        pytest.fail(f"taxonomy sources missing at {SOURCE}")
    rebuilt = build_taxonomy(SOURCE)
    assert encode(rebuilt) == gzip.decompress(BUNDLED_TAXONOMY.read_bytes())


def test_ids_are_the_source_codes(taxonomy: Taxonomy) -> None:
    assert len(taxonomy.sectors) == 20
    assert taxonomy.sectors[14].name == "Hospitals and Health Care"
    assert taxonomy.industries[4].name == "Software Development"
    assert taxonomy.functions[29114100].name == "Registered Nurses"
    assert taxonomy.functions[29114100].code == "29-1141.00"
    assert function_id_of("11-1011.03") == 11101103


def test_version_names_the_content(taxonomy: Taxonomy) -> None:
    assert taxonomy.version.startswith("v1-")
    assert "O*NET" in taxonomy.attribution


def test_every_industry_has_a_group_and_sector(taxonomy: Taxonomy) -> None:
    for industry in taxonomy.industries.values():
        path = taxonomy.path_of(industry.id)
        assert path is not None
        sector, group, _ = path
        assert taxonomy.is_consistent(sector.id, group.id, industry.id)


def test_depth_three_industries_sit_under_their_linkedin_parents(taxonomy: Taxonomy) -> None:
    # Hospitals and Health Care > Hospitals; Technology... > ... > Software Development
    assert taxonomy.is_consistent(14, 2081, 2081)
    software = taxonomy.industries[4]
    assert taxonomy.groups[software.group_id].name == "Technology, Information and Internet"


def test_is_consistent_rejects_mixed_paths(taxonomy: Taxonomy) -> None:
    software = taxonomy.industries[4]
    assert not taxonomy.is_consistent(14, software.group_id, 4)
    assert not taxonomy.is_consistent(software.sector_id, 2081, 4)
    assert not taxonomy.is_consistent(None, None, None)
    assert not taxonomy.is_consistent(software.sector_id, software.group_id, 999_999)


def test_functions_for_defaults_to_all(taxonomy: Taxonomy) -> None:
    assert len(taxonomy.functions_for(4)) == len(taxonomy.functions) == 1016
    assert taxonomy.functions_for(999_999) == ()
    assert taxonomy.is_function_allowed(4, 29114100)
    assert not taxonomy.is_function_allowed(4, 1)


def test_functions_carry_their_alternate_titles(taxonomy: Taxonomy) -> None:
    titles = set(taxonomy.functions[43405100].titles)
    assert "Customer Support Representative" in titles
    assert singular("Registered Nurses") == "Registered Nurse"


def _small_document() -> dict[str, Any]:
    return {
        "format": "jobstream-taxonomy",
        "version": "test-1",
        "sectors": [[1, "Health"]],
        "industry_groups": [[10, "Care", 1]],
        "industries": [[100, "Clinics", 10], [101, "Hospitals", 10]],
        "job_functions": [[7, "Nurses"], [8, "Cooks"]],
        "allowed_functions": {"100": [7]},
    }


@pytest.mark.parametrize("name", ["other.json", "other.json.gz"])
def test_loader_reads_another_file(tmp_path: Path, name: str) -> None:
    payload = orjson.dumps(_small_document())
    path = tmp_path / name
    path.write_bytes(gzip.compress(payload) if name.endswith(".gz") else payload)
    loaded = load_taxonomy(path)
    assert loaded.version == "test-1"
    assert [f.id for f in loaded.functions_for(100)] == [7]
    assert [f.id for f in loaded.functions_for(101)] == [7, 8]
    assert loaded.is_consistent(1, 10, 101)


def test_loader_rejects_broken_files(tmp_path: Path) -> None:
    broken = _small_document()
    broken["industries"] = [[100, "Clinics", 99]]
    (tmp_path / "bad.json").write_bytes(orjson.dumps(broken))
    (tmp_path / "junk.json").write_text("not json")
    for name in ("bad.json", "junk.json", "missing.json"):
        with pytest.raises(TaxonomyError):
            load_taxonomy(tmp_path / name)


def test_document_round_trips(taxonomy: Taxonomy) -> None:
    again = Taxonomy.from_document(orjson.loads(encode(taxonomy)))
    assert again == taxonomy


# --- the original system's HTTP shape (§4.2) -------------------------------------------

HIERARCHY = [
    {
        "id": 1,
        "name": "Health Care",
        "industry_groups": [
            {
                "id": 11,
                "name": "Health Care Providers",
                "industries": [{"id": 111, "name": "Hospitals"}, {"id": 112, "name": "Clinics"}],
            }
        ],
    },
    {
        "id": 2,
        "name": "Financials",
        "industry_groups": [
            {"id": 21, "name": "Banks", "industries": [{"id": 211, "name": "Retail Banking"}]}
        ],
    },
]


def _function(function_id: int, name: str, industry: str) -> dict[str, Any]:
    return {
        "id": function_id,
        "name": name,
        "discipline_detail": {
            "name": "Discipline",
            "sub_industry_detail": {
                "name": "Sub",
                "industry_detail": {
                    "name": industry,
                    "industry_group_detail": {"name": "G", "sector_detail": {"name": "S"}},
                },
            },
        },
    }


FUNCTIONS = {
    "111": [
        _function(5001, "Registered Nurse", "Hospitals"),
        _function(5002, "Surgeon", "Hospitals"),
    ],
    "112": [_function(5001, "Registered Nurse", "Clinics")],
    "211": [_function(6001, "Bank Teller", "Retail Banking")],
}


def _collabwork_app(fail_industry: str | None = None) -> web.Application:
    async def hierarchy(_: web.Request) -> web.Response:
        return web.json_response(HIERARCHY)

    async def functions(request: web.Request) -> web.Response:
        industry_id = request.query["industry_id"]
        if industry_id == fail_industry:
            return web.json_response({"message": "boom"}, status=500)
        return web.json_response(FUNCTIONS[industry_id])

    app = web.Application()
    app.router.add_get("/api:x/industry/sector-industry", hierarchy)
    app.router.add_get("/api:x/industry/full-hierarchy-list", functions)
    return app


@pytest.fixture
async def collabwork_url() -> AsyncIterator[str]:
    server = TestServer(_collabwork_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}/api:x/industry/sector-industry"
    finally:
        await server.close()


async def test_url_loader_reads_the_original_shape(collabwork_url: str) -> None:
    loaded = await load_taxonomy_async(collabwork_url)
    assert loaded.version.startswith("collabwork-")
    assert loaded.is_consistent(1, 11, 112)
    assert loaded.sector(2) is not None and loaded.sector(2).name == "Financials"  # type: ignore[union-attr]
    assert [f.name for f in loaded.functions_for(111)] == ["Registered Nurse", "Surgeon"]
    assert [f.id for f in loaded.functions_for(211)] == [6001]
    assert not loaded.is_function_allowed(211, 5001)


async def test_url_loader_fails_loudly_on_an_http_error() -> None:
    server = TestServer(_collabwork_app(fail_industry="112"), host="127.0.0.1")
    await server.start_server()
    try:
        url = f"http://127.0.0.1:{server.port}/api:x/industry/sector-industry"
        with pytest.raises(TaxonomyError, match="500"):
            await load_taxonomy_async(url)
    finally:
        await server.close()


@pytest.fixture
def threaded_collabwork_url() -> Iterator[str]:
    """The server on its own loop and thread, so the blocking loader can be called."""
    loop = asyncio.new_event_loop()
    server = TestServer(_collabwork_app(), host="127.0.0.1", loop=loop)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start_server(), loop).result(timeout=10)
    try:
        yield f"http://127.0.0.1:{server.port}/api:x/industry/sector-industry"
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_blocking_loader_accepts_a_url(threaded_collabwork_url: str) -> None:
    loaded = load_taxonomy(threaded_collabwork_url)
    assert set(loaded.industries) == {111, 112, 211}
