"""Faults a test can inject into the emulator, and the request counters it can read back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("list", "add", "update", "remove")


class FaultSpecError(ValueError):
    """The admin request describing faults is malformed; the message says which part."""


@dataclass(slots=True)
class CountedFault:
    """A fault that fires for the next `remaining` matching requests (None: forever)."""

    remaining: int | None = 0
    endpoints: frozenset[str] = frozenset(ENDPOINTS)

    def fire(self, endpoint: str) -> bool:
        """True when this request should fail; consumes one firing."""
        if endpoint not in self.endpoints or self.remaining == 0:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass(slots=True)
class Faults:
    status_5xx: CountedFault = field(default_factory=CountedFault)
    status_code: int = 503
    # A 429 with Retry-After, as a rate limit gives, without configuring one at start-up.
    status_429: CountedFault = field(default_factory=CountedFault)
    retry_after_s: int = 1
    slow_ms: int = 0
    listing_page: int | None = None
    listing_fault: CountedFault = field(default_factory=CountedFault)
    drop_connection: CountedFault = field(default_factory=CountedFault)
    # Dropping after the write is applied models "done, but the answer was lost".
    drop_after_apply: bool = False
    # A misconfigured list endpoint that answers every feed's records, whatever feed_id says.
    list_ignores_feed_id: bool = False
    # 200 with Xano's error shape {"code", "message"} and nothing applied: a function stack
    # that caught its own failure. Only a client that reads the body can tell.
    error_body_2xx: CountedFault = field(default_factory=CountedFault)

    def listing_fails(self, page: int) -> bool:
        return page == self.listing_page and self.listing_fault.fire("list")


KNOWN_FAULTS = frozenset(
    {
        "status_5xx",
        "status_429",
        "slow_ms",
        "fail_listing_on_page",
        "drop_connection",
        "list_ignores_feed_id",
        "error_body_2xx",
    }
)


def parse_faults(spec: dict[str, Any]) -> Faults:
    """Builds faults from the admin JSON, e.g. {"status_5xx": {"count": 2}, "slow_ms": 500}."""
    unknown = set(spec) - KNOWN_FAULTS
    if unknown:
        raise FaultSpecError(f"unknown fault(s): {sorted(unknown)}")
    faults = Faults(slow_ms=_non_negative_int(spec.get("slow_ms", 0), "slow_ms"))
    if "status_5xx" in spec:
        faults.status_5xx = _counted(spec["status_5xx"], "status_5xx")
        faults.status_code = _status_code(spec["status_5xx"])
    if "status_429" in spec:
        faults.status_429 = _counted(spec["status_429"], "status_429")
        retry_after = _as_dict(spec["status_429"]).get("retry_after", 1)
        faults.retry_after_s = _non_negative_int(retry_after, "status_429.retry_after")
    if "fail_listing_on_page" in spec:
        faults.listing_page, faults.listing_fault = _listing(spec["fail_listing_on_page"])
    if "drop_connection" in spec:
        faults.drop_connection = _counted(spec["drop_connection"], "drop_connection")
        faults.drop_after_apply = bool(_as_dict(spec["drop_connection"]).get("after_apply"))
    if "list_ignores_feed_id" in spec:
        faults.list_ignores_feed_id = _bool(spec["list_ignores_feed_id"], "list_ignores_feed_id")
    if "error_body_2xx" in spec:
        faults.error_body_2xx = _counted(spec["error_body_2xx"], "error_body_2xx")
    return faults


def _bool(raw: Any, name: str) -> bool:
    if not isinstance(raw, bool):
        raise FaultSpecError(f"{name} must be true or false, got {raw!r}")
    return raw


def _counted(raw: Any, name: str) -> CountedFault:
    body = _as_dict(raw)
    count = body.get("count", 1)
    remaining = None if count is None else _non_negative_int(count, f"{name}.count")
    endpoints = body.get("endpoints", list(ENDPOINTS))
    if not isinstance(endpoints, list) or not set(endpoints) <= set(ENDPOINTS):
        raise FaultSpecError(f"{name}.endpoints must be a list drawn from {list(ENDPOINTS)}")
    return CountedFault(remaining=remaining, endpoints=frozenset(endpoints))


def _listing(raw: Any) -> tuple[int, CountedFault]:
    """An int fails that page on every request; {"page": p, "count": n} fails it n times."""
    if isinstance(raw, dict):
        page = _non_negative_int(raw.get("page"), "fail_listing_on_page.page")
        return page, _counted({**raw, "endpoints": ["list"]}, "fail_listing_on_page")
    page = _non_negative_int(raw, "fail_listing_on_page")
    return page, CountedFault(remaining=None, endpoints=frozenset({"list"}))


def _status_code(raw: Any) -> int:
    code = _as_dict(raw).get("status", 503)
    if not isinstance(code, int) or not 500 <= code <= 599:
        raise FaultSpecError("status_5xx.status must be an integer in 500..599")
    return code


def _as_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    # A bare number is shorthand for {"count": n}.
    return {"count": raw}


def _non_negative_int(raw: Any, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise FaultSpecError(f"{name} must be a non-negative integer, got {raw!r}")
    return raw


@dataclass(slots=True)
class RequestCounters:
    """What the emulator saw; admin requests are never counted."""

    requests: Counter[str] = field(default_factory=Counter)
    records_written: Counter[str] = field(default_factory=Counter)
    responses: Counter[int] = field(default_factory=Counter)
    injected_5xx: int = 0
    injected_error_bodies: int = 0
    dropped_connections: int = 0
    peak_arrivals_in_window: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": {name: self.requests[name] for name in ENDPOINTS},
            "records_written": dict(self.records_written),
            "responses": {str(code): n for code, n in sorted(self.responses.items())},
            "rate_limited": self.responses[429],
            "unauthorized": self.responses[401],
            "injected_5xx": self.injected_5xx,
            "injected_error_bodies": self.injected_error_bodies,
            "dropped_connections": self.dropped_connections,
            "peak_arrivals_in_window": self.peak_arrivals_in_window,
            "total_requests": sum(self.requests.values()),
        }
