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


def test_where_keeps_only_the_records_of_one_price_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io

    from gateway.errors import ConfigError
    from gateway.mapping.loader import load_mapping_file
    from gateway.mapping.writer import RecordWriter

    m = tmp_path / "retail.toml"
    m.write_text('[mapping]\ndirection = "write"\ndocument = "prices"\nformat = "csv"\n'
                 'where = { price_list = "RETAIL" }\n[csv]\ndelimiter = ";"\n'
                 'line_terminator = "\\n"\n'
                 '[[columns]]\nheader = "sku"\nfield = "sku"\n'
                 '[[columns]]\nheader = "gross"\nfield = "gross"\n', encoding="utf-8")
    sink = io.BytesIO()
    w = RecordWriter(load_mapping_file(m), sink)
    w.write([{"sku": "A", "price_list": "RETAIL", "gross": Decimal("9.90")},
             {"sku": "A", "price_list": "PRO", "gross": Decimal("8.00")},
             {"sku": "B", "price_list": "RETAIL", "gross": Decimal("1.50")}])
    w.close()
    assert sink.getvalue().decode() == "sku;gross\nA;9.90\nB;1.50\n"
    assert w.count == 2

    bad = tmp_path / "bad.toml"
    bad.write_text(m.read_text().replace("price_list", "name"), encoding="utf-8")
    try:
        load_mapping_file(bad)
    except ConfigError as exc:
        assert exc.key == "mapping.where.name"
    else:
        raise AssertionError("a where on a localized field must be refused")
