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
from .transforms import MISS, Failed, Memo, TransformError, memo_key

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


Extractor = Callable[[Iterator[Any], list[Any], int], bool]


def compile_extractor(sources: list[str], prelude: list[str], names: dict[str, Any]
                      ) -> Extractor:
    """The raw values of each row, without the transforms: ``extract(rows, out, limit)``
    appends ``(line, (raw, …), True)`` per row until ``out`` holds ``limit`` rows, and
    returns False once ``rows`` is exhausted. A worker process extracts the rows of a
    large XML file this way; plain tuples of texts cross to the main process cheaply,
    where ``compile_row_mapper`` over ``values[i]`` runs the transforms."""
    env = dict(names)
    raws = "".join(f"{src}, " for src in sources)
    lines = ["def extract(rows, out, limit):",
             "    append = out.append",
             "    for line, values, terminated in rows:",
             *("        " + b for b in prelude),
             f"        append((line, ({raws}), True))",
             "        if len(out) >= limit:",
             "            return True",
             "    return False"]
    exec("\n".join(lines), env)  # noqa: S102 - code built from element names only
    return env["extract"]  # type: ignore[no-any-return]


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
        if s.memo.__class__ is Memo and not s.memo.chain:
            lines.append(f"r{i} = v{i}")  # no transform: the value as read, nothing to look up
        elif s.cached:
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


# A memo pays when values repeat (units, tax codes, categories) and costs when they do
# not (names, descriptions): a miss looks up, computes and stores. Each memoised column
# counts its misses per batch; past one in two it is computed directly for the next
# ``_PROBE_EVERY`` batches, then its memo is tried again.
_PROBE_EVERY = 16
_MIN_BATCH = 256


def _compile_per_record(fields: list[tuple[str | None, Memo]], result: str, ret: str,
                        unhashable: frozenset[str] = frozenset()) -> Any:
    """A loop over records that turns each field into its text ``t0, t1…`` through its
    memo, then runs ``result`` (which appends them) and finally ``ret``.

    A text column's str is its own text and a decimal's text is its digits: both are
    written directly, cheaper than a lookup. Fields in ``unhashable`` (whole localized
    fields: dicts) cannot be memoised and run their steps directly. The others go through
    their memo, or directly while it misses (see ``_adapt``). Computed directly or looked
    up, a text is the same: transforms are pure functions."""
    from .writer import _text  # the writers' final step (writer imports this module)

    env: dict[str, Any] = {"MISS": MISS, "NOTHING": {}, "Decimal": Decimal, "Failed": Failed,
                           "TransformError": TransformError, "memo_key": memo_key,
                           "_adapt": _adapt}
    state: list[list[Any]] = []  # per memoised field: [computed directly?, batches left]
    env["S"] = state
    head = ["def build(records):",
            "    out = []",
            "    append = out.append"]
    body = ["    for rec in records:"]
    counters: list[str] = []
    for i, (fname, memo) in enumerate(fields):
        src = _source(fname)
        steps = memo.chain
        call = f"v{i}"
        for j, fn in enumerate(steps):
            env[f"f{i}_{j}"] = fn
            if j == len(steps) - 1 and j > 0 and fn is _text:  # a str is its own text
                call = f"(s{i} if (s{i} := {call}).__class__ is str else f{i}_{j}(s{i}))"
            else:
                call = f"f{i}_{j}({call})"
        body.append(f"        v{i} = {src}")
        if len(steps) == 0 or fname in unhashable:
            body.append(f"        t{i} = {call}")
            continue
        pad = "        "
        if len(steps) == 1 and steps[0] is _text:
            # a text column: a str is its own text, a decimal its exact digits (to_text)
            body += [f"        c{i} = v{i}.__class__",
                     f"        if c{i} is str:",
                     f"            t{i} = v{i}",
                     f"        elif v{i} is None:",
                     f"            t{i} = ''",
                     f"        elif c{i} is Decimal:",
                     f"            t{i} = format(v{i}, 'f')",
                     "        else:"]
            pad = "            "
        env[f"g{i}"] = memo.cache.get
        env[f"m{i}"] = memo
        head += [f"    d{i} = S[{len(state)}][0]",
                 f"    n{i} = 0"]
        state.append([False, 0])
        counters.append(f"n{i}")
        # a decimal's key carries its spelling (0 and 0.000 are equal, spelled apart),
        # and True is not 1: memo_key, inlined for the other values
        body += [f"{pad}if d{i}:",
                 f"{pad}    t{i} = {call}",
                 f"{pad}else:",
                 f"{pad}    c{i} = v{i}.__class__",
                 f"{pad}    k{i} = v{i} if c{i} is not Decimal and c{i} is not bool"
                 f" else memo_key(v{i})",
                 f"{pad}    t{i} = g{i}(k{i}, MISS)",
                 f"{pad}    if t{i} is MISS:",
                 f"{pad}        n{i} += 1",
                 f"{pad}        t{i} = m{i}.compute(v{i}, k{i})",
                 f"{pad}        if t{i}.__class__ is Failed:",
                 f"{pad}            raise TransformError(t{i}.message)"]
    tail = [f"        {result}"]
    if counters:
        tail.append(f"    _adapt(S, ({''.join(c + ', ' for c in counters)}), len(out))")
    tail.append(f"    return {ret}")
    code = "\n".join(head + body + tail)
    exec(code, env)  # noqa: S102 - built from field positions and a tag only
    return env["build"]


def _adapt(state: list[list[Any]], misses: tuple[int, ...], count: int) -> None:
    """After a batch: a memoised field that missed more than one value in two is computed
    directly for the next batches; one computed directly long enough tries its memo."""
    for st, missed in zip(state, misses, strict=True):
        if st[0]:
            st[1] -= 1
            if st[1] <= 0:
                st[0] = False
        elif count >= _MIN_BATCH and missed * 2 > count:
            st[0] = True
            st[1] = _PROBE_EVERY


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
