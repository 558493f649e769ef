"""The Batch API surface google-genai's `files` and `batches` call (Gemini Developer API).

    POST /upload/{v}/files                       resumable upload: start, then upload+finalize
    GET  /{v}/files/{id}:download?alt=media      a file's bytes (the results of a batch)
    POST /{v}/models/{model}:batchGenerateContent  a batch from an uploaded JSONL file
    GET  /{v}/batches/{id}                       the batch's operation (state, results file)
    GET  /{v}/batches                            every batch, newest first (pageSize, pageToken)

Each input line is `{"key": K, "request": <generateContent body>}`; each is answered by the
same code as a live call (faults included) into a results file of `{"key": K, "response": ...}`
or `{"key": K, "error": ...}` lines. A batch waits `latency_s` before it runs and then answers
its lines in order; the admin `GET /__admin/batches` shows every batch and counts the jobs
each stage was asked about over all batches, and `POST /__admin/batches {"end_next":
"BATCH_STATE_EXPIRED", "count": 1}` makes the next batches end so, unanswered.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from emulators.gemini.wire import BadRequestError, GenerateRequest, error_body, parse_request

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"

# answers one parsed request as a live call would: (HTTP status, body)
LineAnswerer = Callable[[str, GenerateRequest], Awaitable[tuple[int, bytes]]]


@dataclass(slots=True)
class StoredFile:
    name: str
    display_name: str
    mime_type: str
    data: bytearray = field(default_factory=bytearray)
    final: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "state": "ACTIVE" if self.final else "PROCESSING",
            "source": "UPLOADED" if self.name.startswith("files/upload-") else "GENERATED",
        }


@dataclass(slots=True)
class Batch:
    name: str
    model: str
    display_name: str
    input_file: str
    created: str
    state: str = "BATCH_STATE_PENDING"
    lines: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file: str | None = None
    ended: str | None = None

    def operation(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "@type": BATCH_TYPE,
            "name": self.name,
            "model": self.model,
            "displayName": self.display_name,
            "createTime": self.created,
            "updateTime": self.ended or self.created,
            "state": self.state,
            "inputConfig": {"fileName": self.input_file},
            "batchStats": {
                "requestCount": str(self.lines),
                "successfulRequestCount": str(self.succeeded),
                "failedRequestCount": str(self.failed),
                "pendingRequestCount": str(self.lines - self.succeeded - self.failed),
            },
        }
        if self.ended:
            metadata["endTime"] = self.ended
        if self.output_file:
            metadata["output"] = {"responsesFile": self.output_file}
        done = self.state in TERMINAL
        return {"name": self.name, "metadata": metadata, "done": done}


TERMINAL = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)


@dataclass(slots=True)
class BatchService:
    """Files and batches, in memory for the emulator's lifetime."""

    answer: LineAnswerer
    latency_s: float = 0.0
    files: dict[str, StoredFile] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    # "<stage>|<job's prompt line>" -> how many request lines carried it, over all batches
    asked: Counter[str] = field(default_factory=Counter)
    # how the next batches end without running (e.g. BATCH_STATE_EXPIRED), armed by a test
    endings: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.files.clear()
        self.batches.clear()
        self.asked.clear()
        self.endings.clear()

    def start_upload(self, metadata: dict[str, Any]) -> StoredFile:
        name = f"files/upload-{next(self._ids)}"
        stored = StoredFile(
            name, str(metadata.get("displayName") or ""), str(metadata.get("mimeType") or "")
        )
        self.files[name] = stored
        return stored

    def create(self, model: str, body: dict[str, Any]) -> Batch:
        batch_spec = body.get("batch") or {}
        source = (batch_spec.get("inputConfig") or {}).get("fileName")
        stored = self.files.get(str(source))
        if stored is None or not stored.final:
            raise BadRequestError(f"input file {source!r} does not exist or is not uploaded")
        batch = Batch(
            name=f"batches/b{next(self._ids)}",
            model=f"models/{model}",
            display_name=str(batch_spec.get("displayName") or ""),
            input_file=stored.name,
            created=_now(),
        )
        self.batches[batch.name] = batch
        ending = self.endings.pop(0) if self.endings else None
        task = asyncio.create_task(self._run(batch, bytes(stored.data), ending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch

    async def _run(self, batch: Batch, data: bytes, ending: str | None) -> None:
        await asyncio.sleep(self.latency_s)
        if ending is not None:  # ended before any line ran (expired in the queue, say)
            batch.state, batch.ended = ending, _now()
            return
        batch.state = "BATCH_STATE_RUNNING"
        results = bytearray()
        lines = [line for line in data.splitlines() if line.strip()]
        batch.lines = len(lines)
        for line in lines:
            results += await self._line(line, batch)
            await asyncio.sleep(0)  # one line at a time, like a queue that works through it
        output = StoredFile(f"files/batch-{batch.name.rpartition('/')[2]}", "", "application/jsonl")
        output.data, output.final = results, True
        self.files[output.name] = output
        batch.output_file, batch.state, batch.ended = output.name, "BATCH_STATE_SUCCEEDED", _now()

    async def _line(self, line: bytes, batch: Batch) -> bytes:
        key: Any = None
        try:
            entry = orjson.loads(line)
            key = entry.get("key")
            parsed = parse_request(entry.get("request"))
        except (orjson.JSONDecodeError, BadRequestError, AttributeError) as exc:
            batch.failed += 1
            error = orjson.loads(error_body(400, "INVALID_ARGUMENT", str(exc)))
            return orjson.dumps({"key": key, **error}) + b"\n"
        for text in parsed.texts:
            self.asked[f"{parsed.stage.value}|{text}"] += 1
        status, body = await self.answer(batch.model.removeprefix("models/"), parsed)
        answer = orjson.loads(body)
        if status == 200:
            batch.succeeded += 1
            return orjson.dumps({"key": key, "response": answer}) + b"\n"
        batch.failed += 1
        return orjson.dumps({"key": key, **answer}) + b"\n"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def _not_found(what: str) -> web.Response:
    return web.Response(
        body=error_body(404, "NOT_FOUND", f"{what} not found"),
        status=404,
        content_type="application/json",
    )


def routes(service_of: Callable[[web.Request], BatchService]) -> list[web.RouteDef]:
    """The handlers, reading the app's `BatchService` through `service_of`."""

    async def upload(request: web.Request) -> web.Response:
        service = service_of(request)
        command = request.headers.get("X-Goog-Upload-Command", "")
        if "start" in command:
            body = orjson.loads(await request.read() or b"{}")
            stored = service.start_upload(body.get("file") or {})
            url = request.url.with_query({"upload_id": stored.name.rpartition("/")[2]})
            return _json(
                {}, headers={"X-Goog-Upload-URL": str(url), "X-Goog-Upload-Status": "active"}
            )
        stored_or_none = service.files.get(f"files/{request.query.get('upload_id', '')}")
        if stored_or_none is None:
            return _not_found("upload")
        stored_or_none.data += await request.read()
        if "finalize" not in command:
            return _json({}, headers={"X-Goog-Upload-Status": "active"})
        stored_or_none.final = True
        return _json({"file": stored_or_none.to_json()}, headers={"X-Goog-Upload-Status": "final"})

    async def download(request: web.Request) -> web.Response:
        file_id, _, action = request.match_info["file_action"].partition(":")
        stored = service_of(request).files.get(f"files/{file_id}")
        if action != "download" or stored is None or not stored.final:
            return _not_found(f"file {file_id!r}")
        return web.Response(body=bytes(stored.data), content_type="application/octet-stream")

    async def get_batch(request: web.Request) -> web.Response:
        batch = service_of(request).batches.get(f"batches/{request.match_info['batch_id']}")
        return _json(batch.operation()) if batch else _not_found("batch")

    async def list_batches(request: web.Request) -> web.Response:
        ordered = list(reversed(service_of(request).batches.values()))
        size = int(request.query.get("pageSize") or 50)
        start = int(request.query.get("pageToken") or 0)
        page: dict[str, Any] = {
            "operations": [b.operation() for b in ordered[start : start + size]]
        }
        if start + size < len(ordered):
            page["nextPageToken"] = str(start + size)
        return _json(page)

    async def arm(request: web.Request) -> web.Response:
        """`{"end_next": STATE, "count": N}`: the next N batches end in STATE unanswered."""
        body = orjson.loads(await request.read() or b"{}")
        state = str(body.get("end_next") or "")
        if state not in TERMINAL | {"BATCH_STATE_EXPIRED"} or state == "BATCH_STATE_SUCCEEDED":
            return _json({"error": f"end_next must be a failed end state, got {state!r}"}, 400)
        service_of(request).endings.extend([state] * int(body.get("count") or 1))
        return _json({"endings": service_of(request).endings})

    async def admin(request: web.Request) -> web.Response:
        service = service_of(request)
        return _json(
            {
                "batches": [b.operation() for b in service.batches.values()],
                "asked": dict(service.asked),
            }
        )

    return [
        web.post("/upload/{version}/files", upload),
        web.get("/{version}/files/{file_action}", download),
        web.get("/{version}/batches/{batch_id}", get_batch),
        web.get("/{version}/batches", list_batches),
        web.get("/__admin/batches", admin),
        web.post("/__admin/batches", arm),
    ]


async def create_batch(service: BatchService, model: str, request: web.Request) -> web.Response:
    """`POST /{v}/models/{model}:batchGenerateContent` (dispatched by the app's model route)."""
    try:
        batch = service.create(model, orjson.loads(await request.read()))
    except (BadRequestError, orjson.JSONDecodeError, AttributeError) as exc:
        return web.Response(
            body=error_body(400, "INVALID_ARGUMENT", str(exc)),
            status=400,
            content_type="application/json",
        )
    return _json(batch.operation())
