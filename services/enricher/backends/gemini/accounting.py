"""Per-job accounting of Gemini calls and tokens, by stage, so run totals add up exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.usage import StageUsage


def apportion(total: int, shares: int) -> list[int]:
    """Splits `total` into `shares` near-equal integers that sum to `total`."""
    if shares <= 0:
        return []
    base, remainder = divmod(total, shares)
    return [base + (1 if index < remainder else 0) for index in range(shares)]


@dataclass(frozen=True, slots=True)
class Tokens:
    """What one call's usage metadata says, by kind (`schemas.usage`)."""

    input: int = 0
    cached_input: int = 0
    output: int = 0
    thinking: int = 0


@dataclass(slots=True)
class Ledger:
    """Charges each call to the jobs it carried, under the call's stage.

    A call for ten jobs is split across them (remainders to the first ones), so the sum over
    a run's jobs equals what Gemini billed and how many requests were made.
    """

    accounts: dict[str, dict[str, StageUsage]] = field(default_factory=dict)

    def charge(self, item_ids: Sequence[str], stage: str, tokens: Tokens = Tokens()) -> None:
        shares = len(item_ids)
        calls = apportion(1, shares)
        inputs = apportion(tokens.input, shares)
        cached = apportion(tokens.cached_input, shares)
        outputs = apportion(tokens.output, shares)
        thinking = apportion(tokens.thinking, shares)
        for index, item_id in enumerate(item_ids):
            account = self.accounts.setdefault(item_id, {})
            account[stage] = account.get(stage, StageUsage()) + StageUsage(
                calls=calls[index],
                input=inputs[index],
                cached_input=cached[index],
                output=outputs[index],
                thinking=thinking[index],
            )

    def account(self, item_id: str) -> dict[str, StageUsage]:
        """The item's usage by stage (tokens only: the backend prices them)."""
        return self.accounts.get(item_id, {})
