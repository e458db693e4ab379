"""Per-mapping functions generated once, for the hot loop of large files.

A million-row export runs the same field steps a million times; a loop written out for
the mapping's exact fields (as ``dataclasses`` and ``namedtuple`` do for their classes)
costs a third of a generic loop over a list of fields. The generated code only looks
values up in each field's ``Memo`` and builds the record; all logic stays in the Memo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import Problem
from .transforms import MISS, Failed, Memo

RowMapper = Callable[[Iterable[Any], Any, str], Iterator[tuple[int, dict[str, Any]]]]
# one row → its record, or None when it was rejected (its problems appended)
RowFunction = Callable[[int, Any, bool, Any, str], "dict[str, Any] | None"]
# a row check run before the fields: (condition over ``values``, reporter of the problem)
Guard = tuple[str, Callable[[int, Any, bool, Any, str], None]]


@dataclass(frozen=True)
class Step:
    """One field of a generated loop: where its raw value is and what becomes of it.

    ``source`` is a Python expression over the row ``values`` (a CSV row's list, a fixed
    width line, an XML element), or a callable given that row. ``memo`` is a ``Memo`` or
    anything with its ``compute`` (and ``cache`` when ``cached``)."""

    name: str                  # record key: the canonical field
    source: str | Callable[[Any], Any]
    memo: Any
    label: str                 # what a problem calls the field
    lang: str | None = None    # one language of a localized field: merged into {lang: value}
    cached: bool = True        # False: compute every time (results that must not be shared)


def compile_row_mapper(steps: list[Step], guard: Guard | None = None,
                       prelude: tuple[list[str], dict[str, Any]] | None = None) -> RowMapper:
    """A generator over ``(line, values, terminated)`` rows yielding ``(line, record)``.

    ``prelude``: lines run first for each row (XML: index the record's children) and the
    names they use."""
    code, names = prelude or ([], {})
    env = _env(names)
    body, record = _body(steps, guard, code, env, "continue")
    lines = ["def map_rows(rows, problems, file_name):",
             "    for line, values, terminated in rows:",
             *("        " + b for b in body),
             f"        yield line, {record}"]
    exec("\n".join(lines), env)  # noqa: S102 - code built from field positions only
    return env["map_rows"]  # type: ignore[no-any-return]


def compile_row_function(steps: list[Step], guard: Guard | None = None) -> RowFunction:
    """The same steps for one row at a time (multi-record files pick a layout per line)."""
    env = _env({})
    body, record = _body(steps, guard, [], env, "return None")
    lines = ["def map_row(line, values, terminated, problems, file_name):",
             *("    " + b for b in body),
             f"    return {record}"]
    exec("\n".join(lines), env)  # noqa: S102 - code built from field positions only
    return env["map_row"]  # type: ignore[no-any-return]


def _env(extra: dict[str, Any]) -> dict[str, Any]:
    return {"MISS": MISS, "Failed": Failed, "_report": _report, **extra}


def _body(steps: list[Step], guard: Guard | None, prelude: list[str], env: dict[str, Any],
          skip: str) -> tuple[list[str], str]:
    """Statements mapping one row (``skip`` leaves a rejected row) and the record's
    expression. Each field: memo lookup, compute on a miss; failures reported together."""
    lines: list[str] = []
    if guard is not None:
        env["_guard"] = guard[1]
        lines += [f"if {guard[0]}:",
                  "    _guard(line, values, terminated, problems, file_name)",
                  f"    {skip}"]
    lines += prelude
    for i, s in enumerate(steps):
        env[f"c{i}"] = s.memo.compute
        if callable(s.source):
            env[f"x{i}"] = s.source
            lines.append(f"v{i} = x{i}(values)")
        else:
            lines.append(f"v{i} = {s.source}")
        if s.cached:
            env[f"g{i}"] = s.memo.cache.get
            lines += [f"r{i} = g{i}(v{i}, MISS)",
                      f"if r{i} is MISS:",
                      f"    r{i} = c{i}(v{i})"]
        else:
            lines.append(f"r{i} = c{i}(v{i})")
    env["LABELS"] = tuple(s.label for s in steps)
    failed = " or ".join(f"r{i}.__class__ is Failed" for i in range(len(steps))) or "False"
    results = "".join(f"r{i}, " for i in range(len(steps)))
    raws = "".join(f"v{i}, " for i in range(len(steps)))
    lines += [f"if {failed}:",
              f"    _report(line, terminated, ({results}), ({raws}), LABELS, problems,"
              " file_name)",
              f"    {skip}"]
    items: dict[str, str] = {}
    merged: dict[str, str] = {}  # languages merge into one dict; empty ones are left out
    for i, s in enumerate(steps):
        if s.lang is None:
            items[s.name] = f"r{i}"
            continue
        if s.name not in merged:
            merged[s.name] = f"n{i}"
            items[s.name] = f"n{i} or None"
            lines.append(f"n{i} = {{}}")
        lines += [f"if r{i} is not None and r{i} != '':",
                  f"    {merged[s.name]}[{s.lang!r}] = r{i}"]
    record = "{" + ", ".join(f"{k!r}: {v}" for k, v in items.items()) + "}"
    return lines, record


def width_guard(width: int, exact: bool) -> Guard:
    """CSV: a header gives the exact field count; without one, the fields the mapping uses."""
    def report(line: int, values: Any, terminated: bool, problems: Any, file_name: str
               ) -> None:
        msg = f"expected {width} fields, found {len(values)}"
        if not terminated:
            msg += "; the last line is cut short (file truncated?)"
        problems.append(Problem(msg, line=line, file=file_name))
    return (f"len(values) {'!=' if exact else '<'} {width}", report)


def show(raw: Any) -> str | None:
    """A raw value as a problem shows it: a tuple of columns or languages joined."""
    if raw is None or raw.__class__ is str:
        return raw
    if isinstance(raw, tuple):
        return " | ".join(f"{r[0]}={r[1]}" if isinstance(r, tuple) else str(r) for r in raw)
    return str(raw)


def _report(line: int, terminated: bool, results: tuple[Any, ...], raws: tuple[Any, ...],
            labels: tuple[str, ...], problems: Any, file_name: str) -> None:
    for result, raw, label in zip(results, raws, labels, strict=True):
        if result.__class__ is Failed:
            message = result.message
            if not terminated:
                message += " (the last line is cut short: file truncated?)"
            problems.append(Problem(message, line=line, field=label, value=show(raw),
                                    file=file_name))


Serializer = Callable[[Iterable[dict[str, Any]]], tuple[str, int]]
RowBuilder = Callable[[Iterable[dict[str, Any]]], list[list[str]]]


def _compile_per_record(fields: list[tuple[str | None, Memo]], result: str, ret: str,
                        unhashable: frozenset[str] = frozenset()) -> Any:
    """A loop over records that turns each field into its text ``t0, t1…`` through its
    memo, then runs ``result`` (which appends them) and finally ``ret``. Fields in
    ``unhashable`` (whole localized fields: dicts) skip the memo lookup."""
    env: dict[str, Any] = {"MISS": MISS, "NOTHING": {}, "Decimal": Decimal}
    lines = ["def build(records):",
             "    out = []",
             "    append = out.append",
             "    for rec in records:"]
    for i, (fname, memo) in enumerate(fields):
        env[f"g{i}"] = memo.cache.get
        env[f"m{i}"] = memo
        src = _source(fname)
        if fname in unhashable:
            lines += [f"        t{i} = m{i}({src})"]
            continue
        # a decimal's key carries its exponent: 0 and 0.000 are equal, spelled apart
        lines += [f"        v{i} = {src}",
                  f"        k{i} = v{i} if v{i}.__class__ is not Decimal else"
                  f" (v{i}, v{i}.as_tuple().exponent)",
                  f"        t{i} = g{i}(k{i}, MISS)",
                  f"        if t{i} is MISS:",
                  f"            t{i} = m{i}(v{i})"]
    lines += [f"        {result}", f"    return {ret}"]
    exec("\n".join(lines), env)  # noqa: S102 - built from field positions and a tag only
    return env["build"]


def _source(fname: str | None) -> str:
    """Expression of a field's value in ``rec``; ``name.fr`` is one language of a
    localized field."""
    if not fname:
        return "None"
    base, _, lang = fname.partition(".")
    if lang:
        return f"(rec.get({base!r}) or NOTHING).get({lang!r})"
    return f"rec.get({fname!r})"


def compile_xml_serializer(record_tag: str, fields: list[tuple[str | None, Memo]],
                           unhashable: frozenset[str] = frozenset()) -> Serializer:
    """Records → ``<tag>…</tag>`` lines; each memo turns a value into its XML fragment."""
    texts = "".join(f"{{t{i}}}" for i in range(len(fields)))
    return _compile_per_record(  # type: ignore[no-any-return]
        fields, f"append(f'<{record_tag}>{texts}</{record_tag}>\\n')",
        "''.join(out), len(out)", unhashable)


def compile_csv_rows(fields: list[tuple[str | None, Memo]],
                     unhashable: frozenset[str] = frozenset()) -> RowBuilder:
    """Records → lists of column texts; each memo turns a value into its text."""
    texts = ", ".join(f"t{i}" for i in range(len(fields)))
    return _compile_per_record(fields, f"append([{texts}])", "out",  # type: ignore[no-any-return]
                               unhashable)
