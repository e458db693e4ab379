"""Per-mapping functions generated once, for the hot loop of large files.

A million-row export runs the same field steps a million times; a loop written out for
the mapping's exact fields (as ``dataclasses`` and ``namedtuple`` do for their classes)
costs a third of a generic loop over a list of fields. The generated code only looks
values up in each field's ``Memo`` and builds the record; all logic stays in the Memo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import Problem
from .transforms import MISS, Failed, Memo

RowMapper = Callable[[Iterable[Any], Any, str], Iterator[tuple[int, dict[str, Any]]]]


def compile_row_mapper(plan: list[tuple[str, int | None, Memo, str]], width: int | None
                       ) -> RowMapper:
    """``plan``: (field name, column index or None, memo, label for errors)."""
    env: dict[str, Any] = {"MISS": MISS, "Failed": Failed, "Problem": Problem,
                           "_report": _report, "_width": _width_problem}
    lines = ["def map_rows(rows, problems, file_name):",
             "    for line, values, terminated in rows:"]
    needed = max((idx for _, idx, _, _ in plan if idx is not None), default=-1) + 1
    if width is not None:
        lines += [f"        if len(values) != {width}:",
                  f"            _width(line, values, terminated, {width}, problems, file_name)",
                  "            continue"]
    else:
        lines += [f"        if len(values) < {needed}:",
                  f"            _width(line, values, terminated, {needed}, problems, file_name)",
                  "            continue"]
    names = []
    for i, (_name, idx, memo, _label) in enumerate(plan):
        env[f"g{i}"] = memo.cache.get
        env[f"c{i}"] = memo.compute
        src = "None" if idx is None else f"values[{idx}]"
        lines += [f"        v{i} = {src}",
                  f"        r{i} = g{i}(v{i}, MISS)",
                  f"        if r{i} is MISS:",
                  f"            r{i} = c{i}(v{i})"]
        names.append(i)
    failed = " or ".join(f"r{i}.__class__ is Failed" for i in names) or "False"
    env["LABELS"] = tuple(label for *_, label in plan)
    results = ", ".join(f"r{i}" for i in names)
    raws = ", ".join(f"v{i}" for i in names)
    lines += [f"        if {failed}:",
              f"            _report(line, terminated, ({results},), ({raws},), LABELS, problems,"
              " file_name)",
              "            continue"]
    record = ", ".join(f"{name!r}: r{i}" for i, (name, *_rest) in enumerate(plan))
    lines += [f"        yield line, {{{record}}}"]
    exec("\n".join(lines), env)  # noqa: S102 - code built above from field positions only
    return env["map_rows"]  # type: ignore[no-any-return]


def _width_problem(line: int, values: list[str], terminated: bool, width: int, problems: Any,
                   file_name: str) -> None:
    msg = f"expected {width} fields, found {len(values)}"
    if not terminated:
        msg += "; the last line is cut short (file truncated?)"
    problems.append(Problem(msg, line=line, file=file_name))


def _report(line: int, terminated: bool, results: tuple[Any, ...], raws: tuple[Any, ...], labels: tuple[str, ...],
            problems: Any, file_name: str) -> None:
    for result, raw, label in zip(results, raws, labels, strict=True):
        if result.__class__ is Failed:
            message = result.message
            if not terminated:
                message += " (the last line is cut short: file truncated?)"
            problems.append(Problem(message, line=line, field=label,
                                    value=None if raw is None else str(raw), file=file_name))


Serializer = Callable[[Iterable[dict[str, Any]]], tuple[str, int]]
RowBuilder = Callable[[Iterable[dict[str, Any]]], list[list[str]]]


def _compile_per_record(fields: list[tuple[str | None, Memo]], result: str, ret: str,
                        unhashable: frozenset[str] = frozenset()) -> Any:
    """A loop over records that turns each field into its text ``t0, t1…`` through its
    memo, then runs ``result`` (which appends them) and finally ``ret``. Fields in
    ``unhashable`` (whole localized fields: dicts) skip the memo lookup."""
    env: dict[str, Any] = {"MISS": MISS, "NOTHING": {}}
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
        lines += [f"        v{i} = {src}",
                  f"        t{i} = g{i}(v{i}, MISS)",
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
