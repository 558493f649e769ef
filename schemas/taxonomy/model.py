"""The in-memory taxonomy: sectors, industry groups, industries and job functions with lookups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT_NAME = "jobstream-taxonomy"


class TaxonomyError(ValueError):
    """A taxonomy document or endpoint could not be read or is inconsistent."""


@dataclass(frozen=True, slots=True)
class Sector:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class IndustryGroup:
    id: int
    name: str
    sector_id: int


@dataclass(frozen=True, slots=True)
class Industry:
    id: int
    name: str
    group_id: int
    sector_id: int
    # labels of finer source categories folded into this industry; useful as cues
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobFunction:
    id: int
    name: str
    code: str = ""
    description: str = ""
    titles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Immutable taxonomy with O(1) lookups by id.

    `allowed` maps an industry id to the function ids allowed for it; an industry that is
    absent from it allows every function.
    """

    version: str
    sectors: Mapping[int, Sector]
    groups: Mapping[int, IndustryGroup]
    industries: Mapping[int, Industry]
    functions: Mapping[int, JobFunction]
    allowed: Mapping[int, frozenset[int]] = field(default_factory=dict)
    attribution: str = ""

    def __post_init__(self) -> None:
        self._check_links()

    def sector(self, sector_id: int | None) -> Sector | None:
        return None if sector_id is None else self.sectors.get(sector_id)

    def industry_group(self, group_id: int | None) -> IndustryGroup | None:
        return None if group_id is None else self.groups.get(group_id)

    def industry(self, industry_id: int | None) -> Industry | None:
        return None if industry_id is None else self.industries.get(industry_id)

    def job_function(self, function_id: int | None) -> JobFunction | None:
        return None if function_id is None else self.functions.get(function_id)

    def functions_for(self, industry_id: int) -> tuple[JobFunction, ...]:
        """The job functions allowed for an industry (none for an unknown industry)."""
        if industry_id not in self.industries:
            return ()
        allowed = self.allowed.get(industry_id)
        if allowed is None:
            return tuple(self.functions.values())
        return tuple(f for fid, f in self.functions.items() if fid in allowed)

    def is_function_allowed(self, industry_id: int, function_id: int) -> bool:
        if industry_id not in self.industries or function_id not in self.functions:
            return False
        allowed = self.allowed.get(industry_id)
        return allowed is None or function_id in allowed

    def is_consistent(
        self, sector_id: int | None, group_id: int | None, industry_id: int | None
    ) -> bool:
        """True when the three ids exist and form one Sector > Group > Industry path."""
        industry = self.industry(industry_id)
        return (
            industry is not None
            and industry.group_id == group_id
            and industry.sector_id == sector_id
            and group_id in self.groups
            and sector_id in self.sectors
        )

    def path_of(self, industry_id: int) -> tuple[Sector, IndustryGroup, Industry] | None:
        industry = self.industries.get(industry_id)
        if industry is None:
            return None
        return self.sectors[industry.sector_id], self.groups[industry.group_id], industry

    def _check_links(self) -> None:
        for group in self.groups.values():
            if group.sector_id not in self.sectors:
                raise TaxonomyError(f"industry group {group.id} has unknown sector")
        for industry in self.industries.values():
            parent = self.groups.get(industry.group_id)
            if parent is None or parent.sector_id != industry.sector_id:
                raise TaxonomyError(f"industry {industry.id} has an inconsistent parent")
        for industry_id, function_ids in self.allowed.items():
            if industry_id not in self.industries or not function_ids <= self.functions.keys():
                raise TaxonomyError(f"allowed functions of {industry_id} name unknown ids")

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready document `from_document` reads back."""
        return {
            "format": FORMAT_NAME,
            "version": self.version,
            "attribution": self.attribution,
            "sectors": [[s.id, s.name] for s in self.sectors.values()],
            "industry_groups": [[g.id, g.name, g.sector_id] for g in self.groups.values()],
            "industries": [_industry_row(i) for i in self.industries.values()],
            "job_functions": [_function_row(f) for f in self.functions.values()],
            "allowed_functions": {str(k): sorted(v) for k, v in sorted(self.allowed.items())},
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Taxonomy:
        if doc.get("format") != FORMAT_NAME:
            raise TaxonomyError(f"not a {FORMAT_NAME} document")
        try:
            return cls._parse(doc)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, TaxonomyError):
                raise
            raise TaxonomyError(f"malformed taxonomy document: {exc!r}") from exc

    @classmethod
    def _parse(cls, doc: Mapping[str, Any]) -> Taxonomy:
        sectors = {int(r[0]): Sector(int(r[0]), str(r[1])) for r in doc["sectors"]}
        groups = {
            int(r[0]): IndustryGroup(int(r[0]), str(r[1]), int(r[2]))
            for r in doc["industry_groups"]
        }
        industries = {int(r[0]): _parse_industry(r, groups) for r in doc["industries"]}
        functions = {int(r[0]): _parse_function(r) for r in doc["job_functions"]}
        allowed = {
            int(k): frozenset(int(x) for x in v)
            for k, v in doc.get("allowed_functions", {}).items()
        }
        return cls(
            version=str(doc["version"]),
            sectors=sectors,
            groups=groups,
            industries=industries,
            functions=functions,
            allowed=allowed,
            attribution=str(doc.get("attribution", "")),
        )


def _industry_row(industry: Industry) -> list[Any]:
    return [industry.id, industry.name, industry.group_id, list(industry.aliases)]


def _function_row(function: JobFunction) -> list[Any]:
    return [function.id, function.name, function.code, function.description, list(function.titles)]


def _parse_industry(row: list[Any], groups: Mapping[int, IndustryGroup]) -> Industry:
    group_id = int(row[2])
    group = groups.get(group_id)
    if group is None:
        raise TaxonomyError(f"industry {row[0]} names unknown group {group_id}")
    aliases = tuple(str(a) for a in row[3]) if len(row) > 3 else ()
    return Industry(int(row[0]), str(row[1]), group_id, group.sector_id, aliases)


def _parse_function(row: list[Any]) -> JobFunction:
    titles = tuple(str(t) for t in row[4]) if len(row) > 4 else ()
    code = str(row[2]) if len(row) > 2 else ""
    description = str(row[3]) if len(row) > 3 else ""
    return JobFunction(int(row[0]), str(row[1]), code, description, titles)
