"""Field transforms named in mapping files: ``transforms = ["strip", {decimal = {…}}]``.

Each transform is built once when the mapping loads (so a typo fails at start) and then
called per value. Parsing transforms cache their results: exports repeat the same dates
and quantities on many lines, and parsing is the hot path of a million-row file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Transform = Callable[[Any], Any]

_PLAIN_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)\Z")


class TransformError(ValueError):
    """A value that a transform cannot accept; becomes a located problem."""


EMPTY_VALUES = (None, "")


def _strip(_: Any) -> Transform:
    return lambda v: v.strip() if isinstance(v, str) else v


def _upper(_: Any) -> Transform:
    return lambda v: v.upper() if isinstance(v, str) else v


def _lower(_: Any) -> Transform:
    return lambda v: v.lower() if isinstance(v, str) else v


def _required(_: Any) -> Transform:
    def required(v: Any) -> Any:
        if v in EMPTY_VALUES:
            raise TransformError("value is required")
        return v
    return required


def _default(args: Any) -> Transform:
    value = args["value"] if isinstance(args, dict) else args
    return lambda v: value if v in EMPTY_VALUES else v


def _constant(args: Any) -> Transform:
    value = args["value"] if isinstance(args, dict) else args
    return lambda _v: value


def _decimal(args: Any) -> Transform:
    args = args if isinstance(args, dict) else {}
    dec_sep = args.get("decimal_separator", ".")
    thousands = args.get("thousands_separator", "")

    @lru_cache(maxsize=65536)
    def parse(text: str) -> Decimal:
        t = text
        if thousands:
            t = t.replace(thousands, "")
        if dec_sep != ".":
            if "." in t and dec_sep not in (".",):
                raise TransformError(f"expected a decimal with {dec_sep!r} as separator")
            t = t.replace(dec_sep, ".")
        if not _PLAIN_DECIMAL.match(t):  # no exponents, underscores, NaN or Infinity
            raise TransformError("not a number")
        return Decimal(t)

    def decimal(v: Any) -> Any:
        if v in EMPTY_VALUES or isinstance(v, Decimal):
            return v
        return parse(v)
    return decimal


def _integer(_: Any) -> Transform:
    def integer(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return v
        try:
            return int(v)
        except (TypeError, ValueError):
            raise TransformError("not a whole number") from None
    return integer


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _datetime(args: Any) -> Transform:
    if not isinstance(args, dict) or "format" not in args:
        raise ValueError("datetime needs a format, e.g. {format = '%d/%m/%Y %H:%M'}")
    fmt = args["format"]
    tz = _zone(args.get("timezone"))

    @lru_cache(maxsize=65536)
    def parse(text: str) -> datetime:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            raise TransformError(f"not a date/time in the form {fmt!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz or UTC)
        return dt

    def to_datetime(v: Any) -> Any:
        if v in EMPTY_VALUES or isinstance(v, datetime):
            return v
        return parse(v)
    return to_datetime


_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "floor": ROUND_FLOOR,
             "down": ROUND_DOWN}


def _decimal_format(args: Any) -> Transform:
    args = args if isinstance(args, dict) else {}
    places = int(args.get("places", 2))
    rounding_name = args.get("rounding", "half_up")
    if rounding_name not in _ROUNDING:
        raise ValueError(f"rounding must be one of {', '.join(_ROUNDING)}")
    rounding = _ROUNDING[rounding_name]
    sep = args.get("decimal_separator", ".")
    quantum = Decimal(1).scaleb(-places)

    def fmt(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return ""
        text = format(Decimal(v).quantize(quantum, rounding=rounding), "f")
        return text.replace(".", sep) if sep != "." else text
    return fmt


def _datetime_format(args: Any) -> Transform:
    if not isinstance(args, dict) or "format" not in args:
        raise ValueError("datetime_format needs a format, e.g. {format = '%Y-%m-%d %H:%M'}")
    fmt = args["format"]
    tz = _zone(args.get("timezone"))

    def out(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return ""
        return (v.astimezone(tz) if tz else v).strftime(fmt)
    return out


REGISTRY: dict[str, Callable[[Any], Transform]] = {
    "strip": _strip,
    "upper": _upper,
    "lower": _lower,
    "required": _required,
    "default": _default,
    "constant": _constant,
    "decimal": _decimal,
    "integer": _integer,
    "datetime": _datetime,
    "decimal_format": _decimal_format,
    "datetime_format": _datetime_format,
}


def build_chain(steps: list[Any], key: str) -> list[Transform]:
    """Build the transforms of one field; raise ``ValueError`` naming the bad step."""
    chain = []
    for i, step in enumerate(steps):
        if isinstance(step, str):
            name, args = step, None
        elif isinstance(step, dict) and len(step) == 1:
            name, args = next(iter(step.items()))
        else:
            raise ValueError(f"{key}[{i}]: a transform is a name or a one-key table "
                             "like {decimal = {decimal_separator = ','}}")
        if name not in REGISTRY:
            raise ValueError(f"{key}[{i}]: unknown transform {name!r} (known: "
                             f"{', '.join(sorted(REGISTRY))})")
        try:
            chain.append(REGISTRY[name](args))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{key}[{i}]: {name}: {exc}") from None
    return chain


class Failed:
    """A memoised transform failure: the same bad value fails the same way on every line."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


MISS = object()


class Memo:
    """A field's transforms, memoised by input value.

    Exports repeat the same warehouse, date and quantity on many lines; a dictionary
    hit is several times cheaper than running the chain. Transforms are pure functions of
    the value, so the memo is exact. It is cleared when full, keeping memory bounded.
    """

    __slots__ = ("chain", "cache", "limit")

    def __init__(self, chain: tuple[Transform, ...] | list[Transform], limit: int = 20_000
                 ) -> None:
        self.chain = tuple(chain)
        self.cache: dict[Any, Any] = {}
        self.limit = limit

    def compute(self, value: Any) -> Any:
        """Run the chain; return the result or a ``Failed``, and remember it."""
        result: Any = value
        try:
            for fn in self.chain:
                result = fn(result)
        except TransformError as exc:
            result = Failed(str(exc))
        try:
            if len(self.cache) >= self.limit:
                self.cache.clear()
            self.cache[value] = result
        except TypeError:  # unhashable value: not memoised
            pass
        return result

    def __call__(self, value: Any) -> Any:
        try:
            hit = self.cache.get(value, MISS)
        except TypeError:
            hit = MISS
        result = self.compute(value) if hit is MISS else hit
        if result.__class__ is Failed:
            raise TransformError(result.message)
        return result
