"""Differential fuzzing of a large CSV file read by column and checked by its new values
(``mapping/columns.py``, ``validate/distinct.py``): whatever the bytes, the records, the
canonical XML and the problems must be exactly those of the file read row by row and
checked record by record. A file refused whole must be refused with the same problem.

Samples: stock exports with faulty rows anywhere (``tests/pipeline/test_columns``), read
in blocks of a few dozen lines, each field value checked alone or in probe records.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from gateway.formats import csv as csv_format
from gateway.validate import distinct
from tests.pipeline.test_columns import FAULTS, export, read

from .harness import budget, guarded, mutated

N = 1200


@st.composite
def faulty_exports(draw: st.DrawFn) -> bytes:
    """An export with a few faulty rows; now and then cut short or mutated."""
    faults = draw(st.dictionaries(st.integers(0, N - 1), st.integers(0, len(FAULTS) - 1),
                                  max_size=4))
    data = export(N, faults, cut=draw(st.integers(0, 5)) == 0)
    if draw(st.integers(0, 4)) == 0:
        data = draw(mutated([data], max_steps=2))
    return data


@budget(0.3)
@given(data=st.data(), by_field=st.booleans(), block=st.sampled_from((700, 1500, 9000)))
@guarded
def test_reading_by_column_gives_exactly_what_row_by_row_gives(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, by_field: bool,
        block: int) -> None:
    path: Path = tmp_path_factory.mktemp("columns") / "stock.csv"
    path.write_bytes(data.draw(faulty_exports(), label="file"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(csv_format, "BLOCK_CHARS", block)
        if not by_field:
            mp.setattr(distinct, "value_schema", lambda *a: None)
        columns = read(path, "columns")
        rows = read(path, "rows")
    event("refused whole" if rows[2] else "with problems" if rows[1] else "clean")
    assert columns == rows
