"""The syncer's own Prometheus metrics, on the process's shared registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from services.shared.metrics import REGISTRY

OUTBOX_WAITING = Gauge(
    "jobstream_xano_outbox",
    "Reviewer approvals kept in the outbox because their push to Xano has not landed yet.",
    registry=REGISTRY,
)
APPROVAL_PUSH_FAILURES = Counter(
    "jobstream_xano_approval_push_failures",
    "Pushes of a reviewer approval to Xano that failed and were kept for a retry.",
    registry=REGISTRY,
)
DELETES_HELD = Counter(
    "jobstream_xano_deletes_held",
    "Deletes a reconcile held back because they passed the cap without a confirmation.",
    registry=REGISTRY,
)
FOREIGN_RECORDS = Counter(
    "jobstream_xano_foreign_records",
    "Records of other feeds a feed's Xano listing returned; reported and left alone.",
    registry=REGISTRY,
)
