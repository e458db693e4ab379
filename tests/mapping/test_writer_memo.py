"""Writers memoise texts per value: equal values spelled apart keep their spelling."""

from __future__ import annotations

from decimal import Decimal

from gateway.documents import to_text
from gateway.mapping.compiled import compile_csv_rows
from gateway.mapping.transforms import Memo


def test_equal_decimals_keep_their_own_spelling_and_true_is_not_one() -> None:
    memo = Memo([to_text])
    build = compile_csv_rows([("q", memo)])
    records = [{"q": Decimal("0")}, {"q": Decimal("0.000")}, {"q": Decimal("12.50")},
               {"q": Decimal("12.5")}, {"q": True}, {"q": 1}, {"q": Decimal("0")}]
    assert build(records) == [["0"], ["0.000"], ["12.50"], ["12.5"], ["true"], ["1"], ["0"]]
    assert memo(Decimal("0.0")) == "0.0"
    assert memo(Decimal("0")) == "0"
