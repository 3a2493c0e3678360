"""Prices per node-hour for the report's cost estimate: a built-in list-price table,
a user's table from a JSON file, and the choice between them and an explicit price.

The built-in table holds Azure's pay-as-you-go list prices for Linux VMs in the
East US region, in USD per hour, as Azure's public pricing (the Retail Prices API,
`type: Consumption`) listed them in January 2025. It was compiled without network
access and not re-checked against the live API: a user's table overrides it when the
estimate matters. Azure Batch itself adds no charge:
a node costs what its VM costs. Spot prices move with demand, so the table does not
list them: a spot node-hour is estimated at `SPOT_FACTOR` times the dedicated price,
unless a user's table gives a spot price. Everything computed from here is an
estimate, never a bill.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import UsageError

# Environment variable naming a JSON price table that replaces the built-in one.
PRICES_ENV = "BWF_PRICES"
# Spot VMs are typically offered at 60-90 % off the list price; 80 % off is a middle guess.
SPOT_FACTOR = 0.2

_EAST_US_LINUX_2025_01 = {
    "standard_a1_v2": 0.043,
    "standard_a2_v2": 0.091,
    "standard_a4_v2": 0.191,
    "standard_a8_v2": 0.40,
    "standard_d2_v3": 0.096,
    "standard_d4_v3": 0.192,
    "standard_d8_v3": 0.384,
    "standard_d16_v3": 0.768,
    "standard_d2s_v3": 0.096,
    "standard_d4s_v3": 0.192,
    "standard_d8s_v3": 0.384,
    "standard_d16s_v3": 0.768,
    "standard_d32s_v3": 1.536,
    "standard_d2s_v5": 0.096,
    "standard_d4s_v5": 0.192,
    "standard_d8s_v5": 0.384,
    "standard_d16s_v5": 0.768,
    "standard_d32s_v5": 1.536,
    "standard_d2ds_v5": 0.113,
    "standard_d4ds_v5": 0.226,
    "standard_d2as_v5": 0.086,
    "standard_d4as_v5": 0.172,
    "standard_e2s_v3": 0.126,
    "standard_e4s_v3": 0.252,
    "standard_e8s_v3": 0.504,
    "standard_e2s_v5": 0.126,
    "standard_e4s_v5": 0.252,
    "standard_f2s_v2": 0.0846,
    "standard_f4s_v2": 0.169,
    "standard_f8s_v2": 0.338,
    "standard_f16s_v2": 0.677,
    "standard_nc6s_v3": 3.06,
    "standard_nc4as_t4_v3": 0.526,
}


@dataclass(frozen=True)
class ListPrice:
    """Price of one node-hour of a VM size; `spot` None means dedicated x the table's factor."""

    dedicated: float
    spot: float | None = None


@dataclass(frozen=True)
class PriceTable:
    """Prices per VM size (lower-case, `standard_d2s_v3`) and where they come from."""

    prices: Mapping[str, ListPrice]
    currency: str
    region: str
    as_of: str
    spot_factor: float
    origin: str  # "built-in" or the file it was read from

    def lookup(self, vm_size: str) -> ListPrice | None:
        return self.prices.get(vm_size.lower())


BUILTIN_PRICES = PriceTable(
    prices={size: ListPrice(price) for size, price in _EAST_US_LINUX_2025_01.items()},
    currency="USD",
    region="East US, Linux, pay-as-you-go",
    as_of="2025-01",
    spot_factor=SPOT_FACTOR,
    origin="built-in",
)


@dataclass(frozen=True)
class PriceQuote:
    """The prices the estimate uses, per node-hour, and a sentence saying where they come from."""

    dedicated: float
    spot: float
    currency: str
    source: str


def quote(
    vm_size: str,
    explicit: float | None,
    spec_price: float | None,
    table: PriceTable = BUILTIN_PRICES,
) -> PriceQuote | None:
    """The price of a node-hour: `explicit` (`--price`), else the spec's, else the table's.

    An explicit or spec price is the dedicated price; spot is then that price times the
    table's spot factor. None when no price is known for `vm_size`.
    """
    for given, source in ((explicit, "--price"), (spec_price, "pool.price_per_hour in the spec")):
        if given is not None:
            spot = given * table.spot_factor
            return PriceQuote(given, spot, table.currency, f"{source}; spot at {_factor(table)}")
    listed = table.lookup(vm_size)
    if listed is None:
        return None
    where = f"{table.origin} list price of {vm_size.lower()}, {table.region}, as of {table.as_of}"
    if listed.spot is None:
        return PriceQuote(
            listed.dedicated,
            listed.dedicated * table.spot_factor,
            table.currency,
            f"{where}; spot at {_factor(table)}",
        )
    return PriceQuote(listed.dedicated, listed.spot, table.currency, where)


def _factor(table: PriceTable) -> str:
    return f"{table.spot_factor:g} x the dedicated price"


def load_price_table(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> PriceTable:
    """The price table to use: the JSON file `path`, else the one `$BWF_PRICES` names,
    else the built-in table. A user's file replaces the built-in table whole.

    The file: `{"prices": {"standard_d2s_v3": 0.096, "standard_d4s_v3": {"dedicated":
    0.192, "spot": 0.04}}, "currency": "USD", "region": "...", "as_of": "...",
    "spot_factor": 0.2}`; all keys but `prices` are optional. Raises UsageError.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(PRICES_ENV):
        path = Path(env[PRICES_ENV])
    if path is None:
        return BUILTIN_PRICES
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"{path}: cannot read the price table: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: the price table is not valid JSON: {e}") from None
    return _parse_table(data, path)


def _parse_table(data: object, path: Path) -> PriceTable:
    if not isinstance(data, dict) or not isinstance(data.get("prices"), dict):
        raise UsageError(f'{path}: a price table is an object with a "prices" object')
    unknown = sorted(set(data) - {"prices", "currency", "region", "as_of", "spot_factor"})
    if unknown:
        raise UsageError(f"{path}: unknown key(s) in the price table: {', '.join(unknown)}")
    prices = {
        str(size).lower(): _parse_price(entry, f"{path}: prices.{size}")
        for size, entry in data["prices"].items()
    }
    factor = _number(data.get("spot_factor", SPOT_FACTOR), f"{path}: spot_factor")
    return PriceTable(
        prices=prices,
        currency=_text(data.get("currency", "USD"), f"{path}: currency"),
        region=_text(data.get("region", "region not given"), f"{path}: region"),
        as_of=_text(data.get("as_of", "date not given"), f"{path}: as_of"),
        spot_factor=factor,
        origin=str(path),
    )


def _parse_price(entry: object, where: str) -> ListPrice:
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"dedicated", "spot"})
        if unknown or "dedicated" not in entry:
            raise UsageError(f'{where}: expected a number or {{"dedicated": N, "spot": N}}')
        spot = entry.get("spot")
        return ListPrice(
            _number(entry["dedicated"], where),
            None if spot is None else _number(spot, f"{where}.spot"),
        )
    return ListPrice(_number(entry, where))


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where}: expected a number, got {json.dumps(value)}")
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{where}: expected a price of 0 or more, got {value}")
    return float(value)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where}: expected a string, got {json.dumps(value)}")
    return value
