"""What each run has spent on the LLM (`run_llm_spend`), shared by every enricher replica."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.shared.database import Conn


async def spent(conn: Conn, run_ids: Sequence[str]) -> dict[str, float]:
    """US dollars spent so far by each of these runs that has spent anything."""
    rows = await conn.fetch(
        "SELECT run_id, cost_usd FROM run_llm_spend WHERE run_id = ANY($1::text[])",
        list(run_ids),
    )
    return {row["run_id"]: float(row["cost_usd"]) for row in rows}


async def add(conn: Conn, costs: Mapping[str, float]) -> None:
    """Adds each run's new spending (in run order: concurrent adders never deadlock)."""
    await conn.executemany(
        "INSERT INTO run_llm_spend (run_id, cost_usd) VALUES ($1, $2) "
        "ON CONFLICT (run_id) DO UPDATE SET cost_usd = run_llm_spend.cost_usd + "
        "EXCLUDED.cost_usd, updated_at = now()",
        sorted(costs.items()),
    )


async def settle(conn: Conn, run_id: str, cost_usd: float) -> None:
    """Sets a run's spending to its whole cost, known up front (a backfill's, whose answers
    are stored with their usage): publishing the run again after a crash counts it once."""
    await conn.execute(
        "INSERT INTO run_llm_spend (run_id, cost_usd) VALUES ($1, $2) "
        "ON CONFLICT (run_id) DO UPDATE SET cost_usd = EXCLUDED.cost_usd, updated_at = now()",
        run_id,
        cost_usd,
    )
