"""Reader mappings over real bytes: records, located problems, counts."""

from __future__ import annotations

import io
from decimal import Decimal

from gateway.config import resource_dir
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.reader import ProblemSink, read_records

MAPPING = load_mapping_file(resource_dir("mappings") / "erp_stock_csv.toml")
HEADER = b"ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"


def read(data: bytes) -> tuple[list[tuple[int, dict[str, object]]], ProblemSink]:
    problems = ProblemSink()
    return list(read_records(MAPPING, io.BytesIO(data), "s.csv", problems)), problems


def test_a_value_cut_short_on_the_last_line_says_the_file_may_be_truncated() -> None:
    records, problems = read(HEADER + b"A-1;MAIN;1,000;28/11/2026 09:15\r\n"
                             b"B-2;MAIN;4,000;28/11/20")
    assert [line for line, _ in records] == [2]
    assert [(p.line, p.field, p.value, p.message) for p in problems.items] == [
        (3, "DATE_MAJ", "28/11/20", "not a date/time in the form '%d/%m/%Y %H:%M' "
         "(the last line is cut short: file truncated?)")]
    assert problems.rows_rejected == 1


def test_the_same_bad_value_on_many_lines_is_reported_on_each() -> None:
    rows = b"".join(b"A-%d;MAIN;x;28/11/2026 09:15\r\n" % i for i in range(3))
    records, problems = read(HEADER + rows + b"Z-9;MAIN;2,500;28/11/2026 09:15\r\n")
    assert [(p.line, p.value) for p in problems.items] == [(2, "x"), (3, "x"), (4, "x")]
    assert records == [(5, {"sku": "Z-9", "warehouse": "MAIN", "quantity": Decimal("2.500"),
                            "as_of": records[0][1]["as_of"]})]
    assert problems.rows_rejected == 3
