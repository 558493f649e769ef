"""The Gemini backend's three stages as Batch API work (pure): which jobs each stage asks
about, in which prompts, how a prompt is rendered and judged, and the outcome that results.

Every choice mirrors `backends/gemini/backend.py`: one feed per prompt, stage 2 only for
industries with functions and its prompts grouped by function list, stage 3 for every job
stages 1 and 2 enriched, a failed stage 3 falling back to the stage-1 keywords (and never
cached). The difference: an item the model rejected is not asked again alone (a second
Batch API round would double a backfill's latency); it fails with the reason, as a solo
retry that failed would, and the next backfill or run asks again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy
from schemas.usage import StageUsage, overall
from services.enricher.backends.base import EnrichmentOutcome
from services.enricher.backends.gemini.accounting import Ledger, Tokens
from services.enricher.backends.gemini.assemble import build_enrichment, stage_one_keywords
from services.enricher.backends.gemini.engine import Answer
from services.enricher.backends.gemini.pricing import Price
from services.enricher.backends.gemini.prompts import (
    FunctionJob,
    SearchableJob,
    SystemPrompts,
    enrich_prompt,
    function_prompt,
    searchable_prompt,
)
from services.enricher.backends.gemini.schemas import (
    EnrichItem,
    FunctionItem,
    SearchableItem,
    Stage,
)
from services.enricher.backends.gemini.validation import (
    Check,
    enrich_check,
    function_check,
    judge,
    parse_answer,
    searchable_check,
)

Ref = tuple[int, int]  # (feed_id, seq): one backfill item
STAGES = (Stage.ENRICH, Stage.FUNCTION, Stage.SEARCHABLE)
ERROR_PREFIX = {Stage.ENRICH: "enrichment", Stage.FUNCTION: "job function"}


@dataclass(slots=True)
class Item:
    """One job's way through the stages; a stage in `answers` is over (None: no answer)."""

    feed_id: int
    seq: int
    job_hash: str
    job: JobPosting
    answers: dict[Stage, Any] = field(default_factory=dict)
    error: str | None = None
    incomplete: str | None = None
    attempts: int = 0  # requests that failed for the server's reasons (retried like online)
    # by stage label: the calls and tokens charged to this job (unpriced; `priced` prices them)
    usage: dict[str, StageUsage] = field(default_factory=dict)

    @property
    def ref(self) -> Ref:
        return (self.feed_id, self.seq)

    @property
    def base(self) -> EnrichItem | None:
        base: EnrichItem | None = self.answers.get(Stage.ENRICH)
        return base


def next_stage(item: Item, taxonomy: Taxonomy) -> Stage | None:
    """The stage this item waits for, or None when it is ready to apply."""
    if item.error is not None:
        return None
    for stage in STAGES:
        if stage not in item.answers:
            return stage
    return None


def settle_local(item: Item, taxonomy: Taxonomy) -> bool:
    """Stage 2 is over without a call for an industry that has no functions; True if so."""
    base = item.base
    if Stage.FUNCTION in item.answers or item.error is not None or base is None:
        return False
    if taxonomy.functions_for(base.industry_id):
        return False
    item.answers[Stage.FUNCTION] = None
    return True


@dataclass(frozen=True, slots=True)
class Sizes:
    batch_size: int
    function_batch_size: int
    max_description_chars: int


def plan(stage: Stage, items: Sequence[Item], taxonomy: Taxonomy, sizes: Sizes) -> list[list[Ref]]:
    """The prompts for `items` (all waiting for `stage`): one feed per prompt."""
    by_feed: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_feed[item.feed_id].append(item)
    prompts: list[list[Ref]] = []
    for feed_items in by_feed.values():
        if stage is Stage.FUNCTION:
            prompts.extend(_function_prompts(feed_items, taxonomy, sizes.function_batch_size))
        else:
            prompts.extend(_chunks([i.ref for i in feed_items], sizes.batch_size))
    return prompts


def _function_prompts(items: Sequence[Item], taxonomy: Taxonomy, size: int) -> list[list[Ref]]:
    by_list: dict[tuple[int, ...], list[Item]] = defaultdict(list)
    for item in items:
        base = item.base
        assert base is not None  # only items with a stage-1 answer wait for stage 2
        by_list[tuple(f.id for f in taxonomy.functions_for(base.industry_id))].append(item)
    prompts: list[list[Ref]] = []
    for members in by_list.values():
        ordered = sorted(members, key=lambda item: _industry(item))  # one industry together
        prompts.extend(_chunks([i.ref for i in ordered], size))
    return prompts


def _chunks(refs: list[Ref], size: int) -> list[list[Ref]]:
    return [refs[start : start + size] for start in range(0, len(refs), size)]


def _industry(item: Item) -> int:
    base = item.base
    assert base is not None
    return base.industry_id


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    user: str
    keys: tuple[str, ...]  # J1..Jn, the item ids the answer must use, in request order
    check: Check[Any]


def render(
    stage: Stage,
    members: Sequence[Item],
    prompts: SystemPrompts,
    taxonomy: Taxonomy,
    max_chars: int,
) -> Prompt:
    """The prompt the online backend would send for these jobs (same ids, text and check)."""
    keys = tuple(f"J{index + 1}" for index in range(len(members)))
    if stage is Stage.ENRICH:
        user = enrich_prompt(list(zip(keys, (m.job for m in members), strict=True)), max_chars)
        return Prompt(prompts.enrich, user, keys, enrich_check(taxonomy))
    bases = [m.base for m in members]
    assert all(bases)  # stages 2 and 3 only follow a stage-1 answer
    if stage is Stage.SEARCHABLE:
        entries = [
            (key, SearchableJob(m.job, b.ai_title, b.tags, b.search_terms, b.skills))
            for key, m, b in zip(keys, members, bases, strict=True)
            if b is not None
        ]
        return Prompt(
            prompts.searchable, searchable_prompt(entries, max_chars), keys, searchable_check
        )
    industry_of = {key: b.industry_id for key, b in zip(keys, bases, strict=True) if b}
    single = len(set(industry_of.values())) == 1
    first = next(iter(industry_of.values()))
    shared = _industry_name(taxonomy, first) if single else ""
    function_entries = [
        (
            key,
            FunctionJob(m.job, b.ai_title)
            if single
            else replace(
                FunctionJob(m.job, b.ai_title), industry=_industry_name(taxonomy, b.industry_id)
            ),
        )
        for key, m, b in zip(keys, members, bases, strict=True)
        if b is not None
    ]
    user = function_prompt(shared, taxonomy.functions_for(first), function_entries, max_chars)
    return Prompt(prompts.function, user, keys, function_check(taxonomy, industry_of))


def _industry_name(taxonomy: Taxonomy, industry_id: int) -> str:
    industry = taxonomy.industry(industry_id)
    return industry.name if industry else str(industry_id)


def judged(stage: Stage, prompt: Prompt, answer: Answer | str) -> dict[str, Any | str]:
    """Per key: the accepted item, or (a str) why there is none. `answer` as a str is the
    reason the whole request failed."""
    if isinstance(answer, str):
        return dict.fromkeys(prompt.keys, answer)
    if answer.finish_reason == "MAX_TOKENS":
        return dict.fromkeys(
            prompt.keys, f"{len(prompt.keys)} item(s) did not fit the output limit"
        )
    try:
        raw = parse_answer(answer.text, stage)
    except Exception as exc:  # a malformed answer fails every item of the request
        return dict.fromkeys(prompt.keys, str(exc))
    verdicts = judge(stage, raw, prompt.keys, prompt.check)
    return {
        key: verdicts.accepted.get(key) or verdicts.rejected.get(key, "no answer")
        for key in prompt.keys
    }


# a request line that failed for one of these is asked again in a later batch, as the online
# path retries it (up to GEMINI_MAX_ATTEMPTS), before its jobs fail
RETRYABLE_CODES = ("429 ", "500 ", "503 ", "504 ")


def record(
    stage: Stage,
    members: Sequence[Item],
    prompt: Prompt,
    answer: Answer | str,
    max_attempts: int = 1,
) -> None:
    """Applies one request's answer to its items: their stage is over, or (a server error
    with attempts left) they wait for the stage again."""
    # a failed request is still a request; an answered one is billed for its tokens
    _charge(stage, members, answer.tokens if isinstance(answer, Answer) else Tokens())
    if isinstance(answer, str) and answer.startswith(RETRYABLE_CODES):
        if all(item.attempts + 1 < max_attempts for item in members):
            for item in members:
                item.attempts += 1
            return
        answer = f"{answer} (after {max(i.attempts for i in members) + 1} attempts)"
    outcomes = judged(stage, prompt, answer)
    for key, item in zip(prompt.keys, members, strict=True):
        outcome = outcomes[key]
        if not isinstance(outcome, str):
            item.answers[stage] = outcome
            continue
        item.answers[stage] = None
        if stage is Stage.SEARCHABLE:
            item.incomplete = f"searchable text: {outcome}"
        else:
            item.error = f"{ERROR_PREFIX[stage]}: {outcome}"


def _charge(stage: Stage, members: Sequence[Item], tokens: Tokens) -> None:
    """Shares one request's call and tokens among its jobs, as the online `Ledger` does."""
    ledger = Ledger()
    keys = [str(index) for index in range(len(members))]
    ledger.charge(keys, stage.label, tokens)
    for key, item in zip(keys, members, strict=True):
        for label, used in ledger.account(key).items():
            item.usage[label] = item.usage.get(label, StageUsage()) + used


def priced(item: Item, price: Price) -> dict[str, StageUsage]:
    """The item's usage by stage with its cost at `price` (a backfill's: the Batch API's)."""
    return {
        label: used.model_copy(update={"cost_usd": price.cost_usd(used)})
        for label, used in item.usage.items()
    }


def spent_by_feed(items: Iterable[Item], price: Price) -> dict[int, float]:
    """What each feed's items have cost so far at `price`."""
    spent: dict[int, float] = defaultdict(float)
    for item in items:
        spent[item.feed_id] += overall(priced(item, price)).cost_usd
    return dict(spent)


def outcome(item: Item, taxonomy: Taxonomy, price: Price) -> EnrichmentOutcome:
    """The outcome the online backend would give for this job (`GeminiBackend._outcome`),
    its usage priced at `price`."""
    usage = priced(item, price)
    total = overall(usage)
    base = item.base
    enrichment = None
    if item.error is None and base is not None:
        searchable: SearchableItem | None = item.answers.get(Stage.SEARCHABLE)
        function: FunctionItem | None = item.answers.get(Stage.FUNCTION)
        text = searchable.searchable_text if searchable else stage_one_keywords(base)
        enrichment = build_enrichment(taxonomy, base, function, text)
    return EnrichmentOutcome(
        enrichment=enrichment,
        error=item.error if enrichment is None else None,
        incomplete=item.incomplete if enrichment is not None else None,
        llm_calls=total.calls,
        input_tokens=total.input,
        output_tokens=total.output,
        usage=usage,
    )
