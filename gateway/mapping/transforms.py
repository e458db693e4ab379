"""Field transforms named in mapping files: ``transforms = ["strip", {decimal = {…}}]``.

Each transform is built once when the mapping loads (so a typo fails at start) and then
called per value. Parsing transforms cache their results: exports repeat the same dates
and quantities on many lines, and parsing is the hot path of a million-row file.

A factory receives the step's options and raises ``ValueError`` for a bad one (a config
error naming the mapping file and key); the transform it returns raises ``TransformError``
for a value it refuses (a located problem: line, field, value). Transforms are pure
functions of their input: ``Memo`` remembers one result per distinct value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..documents import to_text

Transform = Callable[[Any], Any]

_PLAIN_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)\Z")
_DIGITS = re.compile(r"[0-9]+\Z")  # ASCII only: str.isdigit() accepts "²" and "٣"


class TransformError(ValueError):
    """A value that a transform cannot accept; becomes a located problem."""


EMPTY_VALUES = (None, "")
_MANY = (tuple, list)


def _is_empty(v: Any) -> bool:
    """Empty text, no value, or an empty list/localized field."""
    return v in EMPTY_VALUES or (v.__class__ in (tuple, list, dict) and not v)


def _each(fn: Callable[[Any], Any]) -> Transform:
    """Apply a per-text step to each element of a list field or each language of a
    localized one, so ``strip`` means the same on ``"a"``, ``("a", "b")`` and ``{fr: "a"}``."""
    def each(v: Any) -> Any:
        cls = v.__class__
        if cls is str:
            return fn(v)
        if cls is tuple or cls is list:
            return tuple(fn(x) for x in v)
        if cls is dict:
            return {k: fn(x) for k, x in v.items()}
        return fn(v)
    return each


def _text(v: Any) -> str:
    return v if v.__class__ is str else to_text(v)


# -- options: checked at load, so a typo stops the start instead of silently doing nothing

def _options(args: Any, allowed: Iterable[str], required: Iterable[str] = ()
             ) -> dict[str, Any]:
    allowed = tuple(allowed)
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValueError(f"expected a table of options, found {args!r}")
    for k in args:
        if k not in allowed:
            raise ValueError(f"unknown option {k!r} (known: {', '.join(allowed) or 'none'})")
    for k in required:
        if k not in args:
            raise ValueError(f"missing option {k!r}")
    return args


def _str_opt(opts: dict[str, Any], key: str, default: str, *, nonempty: bool = False
             ) -> str:
    value = opts.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a text, found {value!r}")
    if nonempty and not value:
        raise ValueError(f"{key} must not be empty")
    return value


def _bool_opt(opts: dict[str, Any], key: str, default: bool) -> bool:
    value = opts.get(key, default)
    if not isinstance(value, bool):  # bool("false") would be True
        raise ValueError(f"{key} must be true or false, found {value!r}")
    return value


def _int_opt(opts: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be a whole number >= {minimum}, found {value!r}")
    return value


def _texts_opt(opts: dict[str, Any], key: str, default: Iterable[str]) -> tuple[str, ...]:
    value = opts.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"{key} must be a list of texts, found {value!r}")
    return tuple(value)


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad pattern {pattern!r}: {exc}") from None


def _first_few(keys: Iterable[str], n: int = 8) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:n])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > n else "")


# -- text

def _strip(args: Any) -> Transform:
    _options(args, ())
    return _each(lambda v: v.strip() if isinstance(v, str) else v)


def _upper(args: Any) -> Transform:
    _options(args, ())
    return _each(lambda v: v.upper() if isinstance(v, str) else v)


def _lower(args: Any) -> Transform:
    _options(args, ())
    return _each(lambda v: v.lower() if isinstance(v, str) else v)


def _truncate(args: Any) -> Transform:
    """Shop fields have length limits; cut rather than have the import reject the line."""
    opts = _options(args, ("length",), required=("length",))
    length = _int_opt(opts, "length", 0, 1)

    def cut(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return v
        text = _text(v)
        return text[:length] if len(text) > length else v
    return _each(cut)


def _required(_: Any) -> Transform:
    def required(v: Any) -> Any:
        if _is_empty(v):
            raise TransformError("value is required")
        return v
    return required


def _default(args: Any) -> Transform:
    value = args["value"] if isinstance(args, dict) else args
    return lambda v: value if v in EMPTY_VALUES else v


def _constant(args: Any) -> Transform:
    value = args["value"] if isinstance(args, dict) else args
    return lambda _v: value


# -- codes

_TRUE = ("1", "true", "yes", "y", "o", "oui", "on")
_FALSE = ("0", "false", "no", "n", "non", "off")


def _boolean(args: Any) -> Transform:
    opts = _options(args, ("true", "false"))
    trues, falses = _texts_opt(opts, "true", _TRUE), _texts_opt(opts, "false", _FALSE)
    table = {t.strip().casefold(): True for t in trues}
    for f in falses:
        if table.get(f.strip().casefold()):
            raise ValueError(f"{f!r} is in both true and false")
        table[f.strip().casefold()] = False
    accepted = (f"not a boolean; accepted: {', '.join(trues)} (true), "
                f"{', '.join(falses)} (false)")

    def boolean(v: Any) -> Any:
        if v in EMPTY_VALUES or v.__class__ is bool:
            return v
        result = table.get(_text(v).strip().casefold())
        if result is None:
            raise TransformError(accepted)
        return result
    return boolean


_NO_DEFAULT = object()


def _code_map(table: dict[str, Any], default: Any, unknown: Callable[[str], str]
              ) -> Transform:
    """Code → value by ``to_text`` (so ``True`` matches ``"true"``), each element of a list."""
    def convert(v: Any) -> Any:
        if v in EMPTY_VALUES and "" not in table:
            return v
        text = _text(v)
        result = table.get(text, default)
        if result is _NO_DEFAULT:
            raise TransformError(unknown(text))
        return result
    return _each(convert)


def _value_map(args: Any) -> Transform:
    opts = _options(args, ("map", "default"), required=("map",))
    table = opts["map"]
    if not isinstance(table, dict) or not table:
        raise ValueError("map must be a table of code = value, e.g. { A = \"1\", I = \"0\" }")
    known = _first_few(table)
    return _code_map(table, opts.get("default", _NO_DEFAULT),
                     lambda t: f"{t!r} is not in the value map (known: {known})")


def _lookup(args: Any, base_dir: Path | None = None) -> Transform:
    """A code table too long for the mapping, in a CSV file next to it; read once at load."""
    opts = _options(args, ("file", "key", "value", "default", "delimiter"),
                    required=("file", "key", "value"))
    name = _str_opt(opts, "file", "", nonempty=True)
    key, value = _str_opt(opts, "key", "", nonempty=True), _str_opt(opts, "value", "",
                                                                    nonempty=True)
    delimiter = opts.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ValueError(f"delimiter must be one character, found {delimiter!r}")
    table = read_lookup(Path(base_dir or ".") / name, key, value, delimiter)
    return _code_map(table, opts.get("default", _NO_DEFAULT),
                     lambda t: f"{t!r} is not in {name} (column {key!r})")


def read_lookup(path: Path, key: str, value: str, delimiter: str | None = None
                ) -> dict[str, str]:
    """``key`` column → ``value`` column of a UTF-8 CSV file with a header line.

    Cells are stripped; blank lines are skipped; the delimiter, unless given, is ``;`` or
    ``,``, whichever the header line has more of. A duplicate key is an error: which of
    two tax rules wins must not depend on the line order.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"lookup file {path} not found") from None
    except OSError as exc:
        raise ValueError(f"cannot read lookup file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 (byte {exc.start})") from None
    first = text.split("\n", 1)[0]
    if delimiter is None:
        delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(rows, [])]
        if not any(header):
            raise ValueError(f"{path}: the first line must name the columns")
        for col in (key, value):
            if header.count(col) != 1:
                found = "twice" if col in header else "missing"
                raise ValueError(f"{path}: column {col!r} is {found} "
                                 f"(columns: {', '.join(header)})")
        ki, vi = header.index(key), header.index(value)
        table: dict[str, str] = {}
        for row in rows:
            if not any(c.strip() for c in row):
                continue
            where = f"{path}:{rows.line_num}"
            if len(row) != len(header):
                raise ValueError(f"{where}: expected {len(header)} fields, found {len(row)}")
            k = row[ki].strip()
            if not k:
                raise ValueError(f"{where}: empty {key}")
            if k in table:
                raise ValueError(f"{where}: duplicate {key} {k!r}")
            table[k] = row[vi].strip()
    except csv.Error as exc:
        raise ValueError(f"{path}:{rows.line_num}: {exc}") from None
    return table


def _when(args: Any) -> Transform:
    """One condition on the value; ``then``/``else`` replace it, ``then_error`` refuses it."""
    conditions = ("equals", "in", "matches", "empty")
    opts = _options(args, (*conditions, "then", "else", "then_error"))
    given = [c for c in conditions if c in opts]
    if len(given) != 1:
        raise ValueError("give exactly one condition: equals, in, matches or empty")
    cond = given[0]
    test: Callable[[Any], bool]
    if cond == "equals":
        target = to_text(opts["equals"])
        test = lambda v: _text(v) == target  # noqa: E731
    elif cond == "in":
        if not isinstance(opts["in"], list):
            raise ValueError(f"in must be a list, found {opts['in']!r}")
        targets = frozenset(to_text(x) for x in opts["in"])
        test = lambda v: _text(v) in targets  # noqa: E731
    elif cond == "matches":
        pattern = _compile(_str_opt(opts, "matches", ""))
        test = lambda v: pattern.search(_text(v)) is not None  # noqa: E731
    else:
        wanted = _bool_opt(opts, "empty", True)
        test = lambda v: _is_empty(v) is wanted  # noqa: E731
    if "then" in opts and "then_error" in opts:
        raise ValueError("give then or then_error, not both")
    if not {"then", "else", "then_error"} & opts.keys():
        raise ValueError("give then, else or then_error")
    error = _str_opt(opts, "then_error", "x", nonempty=True) if "then_error" in opts else None
    then, otherwise = opts.get("then", _NO_DEFAULT), opts.get("else", _NO_DEFAULT)

    def when(v: Any) -> Any:
        if test(v):
            if error is not None:
                raise TransformError(error)
            return v if then is _NO_DEFAULT else then
        return v if otherwise is _NO_DEFAULT else otherwise
    return when


def _regex(args: Any) -> Transform:
    """Extract part of a value: ``^(\\d+)`` takes the leading digits of ``"123 - Bags"``."""
    opts = _options(args, ("pattern", "group", "default"), required=("pattern",))
    source = _str_opt(opts, "pattern", "", nonempty=True)
    pattern = _compile(source)
    group = opts.get("group", 1 if pattern.groups else 0)
    if isinstance(group, str):
        if group not in pattern.groupindex:
            raise ValueError(f"no group named {group!r} in {source!r}")
    elif isinstance(group, bool) or not isinstance(group, int) or not (
            0 <= group <= pattern.groups):
        raise ValueError(f"group must be 0 to {pattern.groups} or a group name, "
                         f"found {group!r}")
    default = opts.get("default", _NO_DEFAULT)

    def extract(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return v
        m = pattern.search(_text(v))
        if m is None:
            if default is _NO_DEFAULT:
                raise TransformError(f"does not match {source!r}")
            return default
        return m.group(group) or ""  # an optional group that took no part
    return _each(extract)


def _gtin_check_digit(body: str) -> int:
    """GS1 mod 10: weights 3, 1, 3, … from the right of the digits before the check."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _gtin(args: Any) -> Transform:
    """A mistyped EAN is a product the shop cannot match; catch it in the ERP export."""
    _options(args, ())

    def gtin(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return v
        text = _text(v)
        if len(text) not in (8, 12, 13, 14) or not _DIGITS.match(text):
            raise TransformError("not an EAN/GTIN: 8, 12, 13 or 14 digits expected")
        expected = _gtin_check_digit(text[:-1])
        if expected != int(text[-1]):
            raise TransformError(f"EAN/GTIN check digit is wrong: expected {expected}, "
                                 f"found {text[-1]}")
        return v
    return _each(gtin)


# -- lists

def _joiner(default_separator: str) -> Callable[[Any], Transform]:
    """``concat`` (several columns into one text, reader side) and ``join`` (a list field
    into one partner column, writer side) do the same thing from different ends."""
    def build(args: Any) -> Transform:
        opts = _options(args, ("separator", "skip_empty"))
        sep = _str_opt(opts, "separator", default_separator)
        skip = _bool_opt(opts, "skip_empty", True)

        def join(v: Any) -> Any:
            if v.__class__ not in _MANY:
                return v
            parts = [to_text(x) for x in v]
            return sep.join([p for p in parts if p] if skip else parts)
        return join
    return build


_concat = _joiner(" ")   # ("Jan", "Peeters") → "Jan Peeters"
_join = _joiner(",")     # ("3", "7") → "3,7"


def _split(args: Any) -> Transform:
    """One text into a list field's tuple: ``"3, 7"`` → ``("3", "7")``."""
    opts = _options(args, ("separator", "strip", "skip_empty"))
    sep = _str_opt(opts, "separator", ",", nonempty=True)
    strip, skip = _bool_opt(opts, "strip", True), _bool_opt(opts, "skip_empty", True)

    def split(v: Any) -> Any:
        if v in EMPTY_VALUES or v.__class__ is tuple:
            return v
        if v.__class__ is list:
            return tuple(v)
        parts = _text(v).split(sep)
        if strip:
            parts = [p.strip() for p in parts]
        return tuple(p for p in parts if p) if skip else tuple(parts)
    return split


def _join_paths(args: Any) -> Transform:
    """Category paths (a tuple of paths, each a tuple of names from the root) as one text:
    WooCommerce wants ``Gear > Bags, Sale``, Magento ``Default Category/Gear/Bags``."""
    opts = _options(args, ("separator", "between", "prefix"))
    sep, between = _str_opt(opts, "separator", " > "), _str_opt(opts, "between", ", ")
    prefix = _str_opt(opts, "prefix", "")

    def one(paths: Any) -> Any:
        if paths.__class__ not in _MANY:
            return paths
        out = []
        for path in paths:
            names = [path] if isinstance(path, str) else [to_text(n) for n in path]
            names = [n for n in names if n]
            if names:
                out.append(sep.join([prefix, *names] if prefix else names))
        return between.join(out)

    def join_paths(v: Any) -> Any:
        if v.__class__ is dict:  # a localized field without its language: each language
            return {lang: one(x) for lang, x in v.items()}
        return one(v)
    return join_paths


# -- numbers and dates

def _decimal(args: Any) -> Transform:
    opts = _options(args, ("decimal_separator", "thousands_separator", "implied_decimals"))
    dec_sep = _str_opt(opts, "decimal_separator", ".", nonempty=True)
    thousands = _str_opt(opts, "thousands_separator", "")
    implied = _int_opt(opts, "implied_decimals", 0, 0)
    implied_error = f"expected digits with {implied} implied decimals, e.g. 000012345"

    @lru_cache(maxsize=65536)
    def parse(text: str) -> Decimal:
        t = text
        if thousands:
            t = t.replace(thousands, "")
        if implied:
            return _implied(t, implied, implied_error)
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


def _implied(t: str, places: int, error: str) -> Decimal:
    """Fixed-width amounts: ``000012345`` is 123.45; the sign leads or, COBOL-style, trails."""
    sign = ""
    if t[-1:] == "-":
        sign, t = "-", t[:-1]
    elif t[:1] in ("-", "+"):
        sign, t = t[0], t[1:]
    if not _DIGITS.match(t):
        raise TransformError(error)
    return Decimal(f"{sign if t.strip('0') else ''}{t}E-{places}")


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


def _date(args: Any) -> Transform:
    """A calendar date (a price's valid_from): no time, so no time zone to get wrong."""
    opts = _options(args, ("format",))
    fmt = _str_opt(opts, "format", "%Y-%m-%d", nonempty=True)
    error = f"not a date in the form {fmt!r}"

    def to_date(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return v
        if isinstance(v, datetime):
            return v.date()
        if isinstance(v, date):
            return v
        try:
            return datetime.strptime(_text(v), fmt).date()
        except ValueError:
            raise TransformError(error) from None
    return to_date


def _iso_datetime(args: Any) -> Transform:
    """ISO 8601 with an offset, as canonical documents write times (``…T09:15:00+01:00``);
    a time without an offset cannot be ordered, so it is refused."""
    _options(args, ())

    @lru_cache(maxsize=65536)
    def parse(text: str) -> datetime:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise TransformError("not an ISO 8601 date and time") from None
        if dt.tzinfo is None:
            raise TransformError("an ISO 8601 time needs an offset (Z or +01:00)")
        return dt

    def iso(v: Any) -> Any:
        return v if v in EMPTY_VALUES or isinstance(v, datetime) else parse(_text(v))
    return iso


def _iso_date(args: Any) -> Transform:
    """An ISO date (``2026-11-28``) or, where the schema allows either, a date and time
    with its offset: validity dates are days for most ERPs, instants for some."""
    _options(args, ())
    to_datetime = _iso_datetime(None)

    @lru_cache(maxsize=65536)
    def parse(text: str) -> date | datetime:
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise TransformError("not an ISO 8601 date (YYYY-MM-DD)") from None
        return to_datetime(text)  # type: ignore[no-any-return]

    def iso(v: Any) -> Any:
        return v if v in EMPTY_VALUES or isinstance(v, date) else parse(_text(v))
    return iso


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


def _date_format(args: Any) -> Transform:
    """A date, or a date/time's date (in ``timezone`` if given), as text."""
    opts = _options(args, ("format", "timezone"))
    fmt = _str_opt(opts, "format", "%Y-%m-%d", nonempty=True)
    tz = _zone(_str_opt(opts, "timezone", ""))

    def out(v: Any) -> Any:
        if v in EMPTY_VALUES:
            return ""
        if v.__class__ is str:  # canonical text of a date: ISO
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                raise TransformError("not a date") from None
        if not isinstance(v, date):
            raise TransformError("not a date")
        if tz is not None and isinstance(v, datetime) and v.tzinfo is not None:
            v = v.astimezone(tz)
        return v.strftime(fmt)
    return out


REGISTRY: dict[str, Callable[..., Transform]] = {
    "strip": _strip,
    "upper": _upper,
    "lower": _lower,
    "truncate": _truncate,
    "required": _required,
    "default": _default,
    "constant": _constant,
    "boolean": _boolean,
    "value_map": _value_map,
    "lookup": _lookup,
    "when": _when,
    "regex": _regex,
    "gtin": _gtin,
    "concat": _concat,
    "split": _split,
    "join": _join,
    "join_paths": _join_paths,
    "decimal": _decimal,
    "integer": _integer,
    "datetime": _datetime,
    "date": _date,
    "iso_datetime": _iso_datetime,
    "iso_date": _iso_date,
    "decimal_format": _decimal_format,
    "datetime_format": _datetime_format,
    "date_format": _date_format,
}

_NEEDS_BASE_DIR = frozenset({"lookup"})  # options naming a file relative to the mapping


def build_chain(steps: list[Any], key: str, *, base_dir: Path | None = None
                ) -> list[Transform]:
    """Build the transforms of one field; raise ``ValueError`` naming the bad step.

    ``base_dir`` is the mapping file's folder: files a step names (lookup tables) are found
    next to the mapping, wherever the gateway runs from.
    """
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
            if name in _NEEDS_BASE_DIR:
                chain.append(REGISTRY[name](args, base_dir=base_dir))
            else:
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


def memo_key(value: Any) -> Any:
    """The key a value is memoised under. Equal decimals may be spelled differently
    (``0`` and ``0.000`` are equal and hash alike) and a writer must keep each spelling,
    so a decimal's key carries its spelling (``str``: its digits and exponent, five times
    cheaper than ``as_tuple``); True is not 1, nor 1 True."""
    cls = value.__class__
    if cls is Decimal:
        return (value, str(value))
    if cls is bool:
        return (bool, value)
    return value


def run_steps(chain: tuple[Transform, ...], value: Any) -> Any:
    """A field's steps in turn; the result, or a ``Failed`` for a value they refuse."""
    try:
        for fn in chain:
            value = fn(value)
    except TransformError as exc:
        return Failed(str(exc))
    return value


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

    def compute(self, value: Any, key: Any = MISS) -> Any:
        """Run the chain; return the result or a ``Failed``, and remember it (under
        ``key``, when the value alone is not a faithful key: see ``memo_key``)."""
        result = run_steps(self.chain, value)
        try:
            if len(self.cache) >= self.limit:
                self.cache.clear()
            self.cache[value if key is MISS else key] = result
        except TypeError:  # unhashable value: not memoised
            pass
        return result

    def __call__(self, value: Any) -> Any:
        key = memo_key(value)
        try:
            hit = self.cache.get(key, MISS)
        except TypeError:
            hit = MISS
        result = self.compute(value, key) if hit is MISS else hit
        if result.__class__ is Failed:
            raise TransformError(result.message)
        return result
