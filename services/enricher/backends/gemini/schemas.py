"""Response schemas sent to Gemini and the pydantic models that read its answers."""

from __future__ import annotations

from enum import StrEnum

from google.genai import types
from pydantic import BaseModel, ConfigDict, Field

from schemas.records import SalaryPeriod


class Stage(StrEnum):
    """The three enrichment stages; the value is the answer's top-level array key."""

    ENRICH = "enriched_jobs"
    FUNCTION = "selections"
    SEARCHABLE = "searchable_jobs"

    @property
    def label(self) -> str:
        """The stage's name in reports and metrics (`schemas.usage`)."""
        return _LABELS[self]


_LABELS = {
    Stage.ENRICH: "enrichment",
    Stage.FUNCTION: "job_function",
    Stage.SEARCHABLE: "searchable_text",
}


def _text(description: str) -> types.Schema:
    return types.Schema(type=types.Type.STRING, description=description)


def _texts(description: str) -> types.Schema:
    return types.Schema(
        type=types.Type.ARRAY, items=types.Schema(type=types.Type.STRING), description=description
    )


def _integer(description: str) -> types.Schema:
    return types.Schema(type=types.Type.INTEGER, description=description)


def _optional_number(description: str) -> types.Schema:
    return types.Schema(type=types.Type.NUMBER, nullable=True, description=description)


_ITEM_ID = _text("the id of the job this item answers, copied exactly")

_ENRICH_ITEM_PROPERTIES: dict[str, types.Schema] = {
    "id": _ITEM_ID,
    "ai_title": _text("standardised professional title, no location or salary"),
    "ai_description": _text("3 to 5 sentences"),
    "tasks": _texts("3 to 4 main tasks"),
    "search_terms": _texts("4 to 6 search terms"),
    "tags": _texts("3 to 4 tags"),
    "skills": _texts("4 to 6 skills"),
    "salary_min": _optional_number("stated minimum pay, null if not stated"),
    "salary_max": _optional_number("stated maximum pay, null if not stated"),
    "salary_period": types.Schema(
        type=types.Type.STRING, nullable=True, enum=[p.value for p in SalaryPeriod]
    ),
    "currency": types.Schema(type=types.Type.STRING, nullable=True, description="ISO-4217"),
    "sector_id": _integer("sector id of the employer's industry"),
    "industry_group_id": _integer("industry group id under that sector"),
    "industry_id": _integer("industry id under that group"),
    "industry_reasoning": _text("2 to 3 lines"),
    "confidence": types.Schema(type=types.Type.NUMBER, minimum=0, maximum=100),
    "confidence_reasons": _texts("2 to 3 short reasons for the score"),
}

_FUNCTION_ITEM_PROPERTIES: dict[str, types.Schema] = {
    "id": _ITEM_ID,
    "job_function_id": _integer("one id from the job function list"),
    "reasoning": _text("one sentence, no line breaks"),
}

_SEARCHABLE_ITEM_PROPERTIES: dict[str, types.Schema] = {
    "id": _ITEM_ID,
    "searchable_text": _text("comma-separated, de-duplicated keywords"),
}

_NULLABLE_FIELDS = frozenset({"salary_min", "salary_max", "salary_period", "currency"})


def _answer_schema(stage: Stage, properties: dict[str, types.Schema]) -> types.Schema:
    item = types.Schema(
        type=types.Type.OBJECT,
        properties=properties,
        required=[name for name in properties if name not in _NULLABLE_FIELDS],
        property_ordering=list(properties),  # id first, so a cut-off answer still names its job
    )
    return types.Schema(
        type=types.Type.OBJECT,
        properties={stage.value: types.Schema(type=types.Type.ARRAY, items=item)},
        required=[stage.value],
    )


RESPONSE_SCHEMAS: dict[Stage, types.Schema] = {
    Stage.ENRICH: _answer_schema(Stage.ENRICH, _ENRICH_ITEM_PROPERTIES),
    Stage.FUNCTION: _answer_schema(Stage.FUNCTION, _FUNCTION_ITEM_PROPERTIES),
    Stage.SEARCHABLE: _answer_schema(Stage.SEARCHABLE, _SEARCHABLE_ITEM_PROPERTIES),
}


class _Item(BaseModel):
    # extra keys are tolerated: a model adding a field is not a reason to fail a job
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str


class EnrichItem(_Item):
    ai_title: str
    ai_description: str
    tasks: tuple[str, ...] = ()
    search_terms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    salary_min: float | None = None
    salary_max: float | None = None
    salary_period: SalaryPeriod | None = None
    currency: str | None = None
    # floats such as 45.0 are accepted as 45 (strict ints reject 45.5)
    sector_id: int
    industry_group_id: int
    industry_id: int
    industry_reasoning: str = ""
    confidence: float = Field(ge=0, le=100)
    confidence_reasons: tuple[str, ...] = ()


class FunctionItem(_Item):
    job_function_id: int
    reasoning: str = ""


class SearchableItem(_Item):
    searchable_text: str


ITEM_MODELS: dict[Stage, type[_Item]] = {
    Stage.ENRICH: EnrichItem,
    Stage.FUNCTION: FunctionItem,
    Stage.SEARCHABLE: SearchableItem,
}
