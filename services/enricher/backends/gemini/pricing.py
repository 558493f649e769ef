"""The cost in money of Gemini calls, from the per-model price table (`prices.toml`).

Work sent through the Batch API is billed at a fraction of the standard price (half, on
Google's pricing page): the table's `batch_api_factor`, 0.5 when it says nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from schemas.usage import StageUsage
from services.shared.settings import SettingsError

PRICE_TABLE = Path(__file__).with_name("prices.toml")
PER = 1_000_000  # prices are per million tokens
BATCH_API_FACTOR = 0.5


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float
    batch_api_factor: float = BATCH_API_FACTOR

    def for_batch_api(self) -> Price:
        """The price of the same tokens sent through the Batch API."""
        factor = self.batch_api_factor
        return Price(self.input * factor, self.cached_input * factor, self.output * factor, 1.0)

    def cost_usd(self, usage: StageUsage) -> float:
        fresh_input = max(usage.input - usage.cached_input, 0)
        return (
            fresh_input * self.input
            + usage.cached_input * self.cached_input
            + (usage.output + usage.thinking) * self.output
        ) / PER


def load_price(model: str, table: Path | str | None = None) -> Price:
    """The model's price; a model the table lacks is a settings error, not a free model."""
    path = Path(table) if table else PRICE_TABLE
    try:
        content = tomllib.loads(path.read_text())
        models = content["models"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise SettingsError(f"cannot read the LLM price table {path}: {exc}") from exc
    row = models.get(model)
    if row is None:
        raise SettingsError(
            f"no price for model {model!r} in {path} (priced: {', '.join(sorted(models))}); "
            "add its row or set GEMINI_PRICE_TABLE"
        )
    try:
        price = Price(float(row["input"]), float(row["cached_input"]), float(row["output"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SettingsError(
            f"price of {model!r} in {path} needs input, cached_input and output"
        ) from exc
    if min(price.input, price.cached_input, price.output) < 0:
        raise SettingsError(f"price of {model!r} in {path} is negative")
    return replace(price, batch_api_factor=_batch_api_factor(content, path))


def _batch_api_factor(content: dict[str, object], path: Path) -> float:
    raw = content.get("batch_api_factor", BATCH_API_FACTOR)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 1:
        raise SettingsError(f"batch_api_factor in {path} must be a number in (0, 1], got {raw!r}")
    return float(raw)
