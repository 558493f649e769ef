"""Gemini's Batch API through google-genai: a JSONL file of generateContent requests is
uploaded (`files.upload`), a batch made of it (`batches.create`, `:batchGenerateContent`),
polled (`batches.get`) and its results file read (`files.download`).

Each request line is the body the online call sends (the SDK's own request encoding), so
the answers are read and judged as the online path reads them. That encoding, and the
response decoding, are the SDK's private converters (`models._GenerateContent*_mldev`):
google-genai is pinned in pyproject.toml, and the round-trip test in
tests/integration/test_backfill.py fails if an upgrade changes them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google import genai
from google.genai import _common, models, types

from services.enricher.backends.gemini.engine import Answer, _answer_of, _thinking
from services.enricher.backends.gemini.schemas import RESPONSE_SCHEMAS, Stage
from services.enricher.backends.gemini.settings import GeminiSettings

DONE_STATES = frozenset(
    {
        types.JobState.JOB_STATE_SUCCEEDED,
        types.JobState.JOB_STATE_FAILED,
        types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_EXPIRED,
    }
)


@dataclass(frozen=True, slots=True)
class Line:
    key: str
    stage: Stage
    system: str
    user: str


@dataclass(frozen=True, slots=True)
class Status:
    done: bool
    state: str
    results_file: str | None


class BatchApi:
    def __init__(self, settings: GeminiSettings) -> None:
        self._settings = settings
        self._client = genai.Client(
            api_key=settings.api_key,
            http_options=types.HttpOptions(
                base_url=settings.base_url, retry_options=types.HttpRetryOptions(attempts=3)
            ),
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()

    def request_body(self, line: Line) -> dict[str, Any]:
        """The generateContent body of one line, as the SDK encodes the online request."""
        config = types.GenerateContentConfig(
            system_instruction=line.system,
            response_mime_type="application/json",
            response_schema=RESPONSE_SCHEMAS[line.stage],
            temperature=self._settings.temperature,
            thinking_config=_thinking(self._settings.thinking_level),
        )
        parameters = types._GenerateContentParameters(
            model=self._settings.model, contents=line.user, config=config
        )
        body = models._GenerateContentParameters_to_mldev(self._client._api_client, parameters)
        body.pop("_url", None)
        encoded: dict[str, Any] = _common.encode_unserializable_types(_common.convert_to_dict(body))
        return encoded

    def jsonl(self, lines: Sequence[Line]) -> bytes:
        return b"".join(
            orjson.dumps({"key": line.key, "request": self.request_body(line)}) + b"\n"
            for line in lines
        )

    async def find(self, display_name: str) -> str | None:
        """The batch already created under `display_name` (a crash after its creation)."""
        pager = await self._client.aio.batches.list(config={"page_size": 100})
        async for job in pager:
            if job.display_name == display_name and job.name:
                return job.name
        return None

    async def submit(self, display_name: str, lines: Sequence[Line]) -> str:
        uploaded = await self._client.aio.files.upload(
            file=io.BytesIO(self.jsonl(lines)),
            config=types.UploadFileConfig(display_name=display_name, mime_type="application/jsonl"),
        )
        assert uploaded.name is not None
        job = await self._client.aio.batches.create(
            model=self._settings.model,
            src=uploaded.name,
            config=types.CreateBatchJobConfig(display_name=display_name),
        )
        assert job.name is not None
        return job.name

    async def status(self, name: str) -> Status:
        job = await self._client.aio.batches.get(name=name)
        state = job.state or types.JobState.JOB_STATE_UNSPECIFIED
        results = job.dest.file_name if job.dest else None
        return Status(state in DONE_STATES, state.value, results)

    async def results(self, file_name: str) -> dict[str, Answer | str]:
        """Per line key: the answer, or why the line failed."""
        data = await self._client.aio.files.download(file=file_name)
        answers: dict[str, Answer | str] = {}
        for raw in data.splitlines():
            if raw.strip():
                entry = orjson.loads(raw)
                answers[str(entry.get("key"))] = _answer(entry)
        return answers


def _answer(entry: dict[str, Any]) -> Answer | str:
    if "response" not in entry:
        error = entry.get("error") or {}
        return f"{error.get('code', '')} {error.get('status', '')}: {error.get('message', '')}"
    response = types.GenerateContentResponse._from_response(
        response=models._GenerateContentResponse_from_mldev(entry["response"]), kwargs={}
    )
    return _answer_of(response)
