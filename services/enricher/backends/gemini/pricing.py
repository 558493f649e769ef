"""The cost in money of Gemini calls, from the per-model price table (`prices.toml`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from schemas.usage import StageUsage
from services.shared.settings import SettingsError

PRICE_TABLE = Path(__file__).with_name("prices.toml")
PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float

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
        models = tomllib.loads(path.read_text())["models"]
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
    return price
