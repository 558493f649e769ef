"""Per-job accounting of Gemini calls and tokens, so run totals add up exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def apportion(total: int, shares: int) -> list[int]:
    """Splits `total` into `shares` near-equal integers that sum to `total`."""
    if shares <= 0:
        return []
    base, remainder = divmod(total, shares)
    return [base + (1 if index < remainder else 0) for index in range(shares)]


@dataclass(slots=True)
class Account:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class Ledger:
    """Charges each call to the jobs it carried.

    A call for ten jobs is split across them (remainders to the first ones), so the sum over
    a run's jobs equals what Gemini billed and how many requests were made.
    """

    accounts: dict[str, Account] = field(default_factory=dict)

    def charge(
        self, item_ids: Sequence[str], input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        calls = apportion(1, len(item_ids))
        inputs = apportion(input_tokens, len(item_ids))
        outputs = apportion(output_tokens, len(item_ids))
        for index, item_id in enumerate(item_ids):
            account = self.account(item_id)
            account.calls += calls[index]
            account.input_tokens += inputs[index]
            account.output_tokens += outputs[index]

    def account(self, item_id: str) -> Account:
        return self.accounts.setdefault(item_id, Account())
