"""Field transforms: exact Decimals, aware datetimes, and a TransformError for bad values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.config import resource_dir
from gateway.errors import ConfigError
from gateway.mapping.loader import load_mapping_file
from gateway.mapping.transforms import REGISTRY, Memo, TransformError, build_chain, read_lookup

PARIS = ZoneInfo("Europe/Paris")


def run(steps: list[Any], value: Any) -> Any:
    result = value
    for fn in build_chain(steps, "fields.x.transforms"):
        result = fn(result)
    return result


FR_DECIMAL = {"decimal": {"decimal_separator": ",", "thousands_separator": " "}}


@pytest.mark.parametrize(("text", "expected"), [
    ("12,000", Decimal("12.000")),
    ("1 234,56", Decimal("1234.56")),
    ("1 234 567,8", Decimal("1234567.8")),
    ("-0,5", Decimal("-0.5")),
    ("7", Decimal("7")),
])
def test_decimal_with_comma_and_thousands(text: str, expected: Decimal) -> None:
    result = run([FR_DECIMAL], text)
    assert type(result) is Decimal
    assert result == expected
    assert str(result) == str(expected)  # exponent kept: "12.000", not "12"


def test_decimal_with_dot_thousands() -> None:
    steps = [{"decimal": {"decimal_separator": ",", "thousands_separator": "."}}]
    assert run(steps, "1.234.567,89") == Decimal("1234567.89")


def test_decimal_default_separator_is_dot() -> None:
    result = run(["decimal"], "0.1")
    assert type(result) is Decimal
    assert result == Decimal("0.1")
    assert result + run(["decimal"], "0.2") == Decimal("0.3")  # exact, unlike float


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "not a number"),
    ("1,2,3", "not a number"),
    ("12.5", "expected a decimal with ',' as separator"),
    ("NaN", "not a number"),
    ("Infinity", "not a number"),
    ("1e5", "not a number"),
    ("1_000", "not a number"),
])
def test_bad_numbers_raise_transform_error(text: str, message: str) -> None:
    with pytest.raises(TransformError) as info:
        run([{"decimal": {"decimal_separator": ","}}], text)
    assert str(info.value) == message


def test_decimal_passes_empty_and_decimal_values_through() -> None:
    assert run([FR_DECIMAL], "") == ""
    assert run([FR_DECIMAL], None) is None
    d = Decimal("3.50")
    assert run([FR_DECIMAL], d) is d


def test_datetime_with_format_and_zone_is_aware() -> None:
    steps = [{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}]
    dt = run(steps, "28/11/2026 09:15")
    assert dt == datetime(2026, 11, 28, 9, 15, tzinfo=PARIS)
    assert dt.utcoffset() == timedelta(hours=1)
    assert dt.isoformat() == "2026-11-28T09:15:00+01:00"
    assert dt.astimezone(UTC) == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)


def test_datetime_in_summer_takes_the_summer_offset() -> None:
    steps = [{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}]
    assert run(steps, "28/07/2026 09:15").isoformat() == "2026-07-28T09:15:00+02:00"


def test_datetime_without_zone_is_utc() -> None:
    dt = run([{"datetime": {"format": "%Y-%m-%d"}}], "2026-11-28")
    assert dt == datetime(2026, 11, 28, tzinfo=UTC)
    assert dt.utcoffset() == timedelta(0)


def test_datetime_keeps_an_offset_given_in_the_text() -> None:
    steps = [{"datetime": {"format": "%Y-%m-%dT%H:%M%z", "timezone": "Europe/Paris"}}]
    assert run(steps, "2026-11-28T09:15-0500").isoformat() == "2026-11-28T09:15:00-05:00"


@pytest.mark.parametrize("text", ["31/11/2026 09:15", "29/02/2026 10:00", "28/11/2026",
                                  "2026-11-28 09:15", "28/11/2026 25:00"])
def test_invalid_dates_are_rejected(text: str) -> None:
    steps = [{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}]
    with pytest.raises(TransformError) as info:
        run(steps, text)
    assert str(info.value) == "not a date/time in the form '%d/%m/%Y %H:%M'"


def test_datetime_needs_a_format_and_a_known_zone() -> None:
    with pytest.raises(ValueError) as info:
        build_chain([{"datetime": {"timezone": "Europe/Paris"}}], "fields.as_of.transforms")
    assert str(info.value).startswith("fields.as_of.transforms[0]: datetime: datetime needs a "
                                      "format")
    with pytest.raises(ValueError) as info:
        build_chain(["strip", {"datetime": {"format": "%Y", "timezone": "Mars/Olympus"}}],
                    "fields.as_of.transforms")
    assert str(info.value) == ("fields.as_of.transforms[1]: datetime: unknown time zone "
                               "'Mars/Olympus'")


def test_required() -> None:
    assert run(["required"], "A") == "A"
    for empty in ("", None):
        with pytest.raises(TransformError) as info:
            run(["required"], empty)
        assert str(info.value) == "value is required"
    with pytest.raises(TransformError):
        run(["strip", "required"], "   ")


def test_default() -> None:
    assert run([{"default": {"value": "MAIN"}}], "") == "MAIN"
    assert run([{"default": "MAIN"}], None) == "MAIN"
    assert run([{"default": "MAIN"}], "EAST") == "EAST"


def test_strip_upper_lower() -> None:
    assert run(["strip"], "  ab c \t") == "ab c"
    assert run(["strip", "upper"], " abc-1 ") == "ABC-1"
    assert run(["lower"], "MAIN") == "main"
    assert run(["upper"], None) is None


def test_constant() -> None:
    assert run([{"constant": {"value": "EUR"}}], "USD") == "EUR"
    assert run([{"constant": "EUR"}], "") == "EUR"


def test_integer() -> None:
    result = run(["integer"], "42")
    assert type(result) is int and result == 42
    assert run(["integer"], "") == ""
    for bad in ("4.2", "x", "4,2"):
        with pytest.raises(TransformError) as info:
            run(["integer"], bad)
        assert str(info.value) == "not a whole number"


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("15.999"), "15"), (Decimal("15"), "15"), (Decimal("0.5"), "0"),
    (Decimal("-0.5"), "-1"), ("2.5", "2"), (None, ""), ("", ""),
])
def test_decimal_format_floor(value: Any, expected: str) -> None:
    assert run([{"decimal_format": {"places": 0, "rounding": "floor"}}], value) == expected


@pytest.mark.parametrize(("rounding", "value", "expected"), [
    ("half_up", "2.345", "2,35"), ("half_up", "2.335", "2,34"),
    ("half_even", "2.345", "2,34"), ("half_even", "2.355", "2,36"),
    ("down", "-2.349", "-2,34"), ("floor", "-2.341", "-2,35"),
])
def test_decimal_format_rounding_and_separator(rounding: str, value: str, expected: str
                                               ) -> None:
    steps = [{"decimal_format": {"places": 2, "rounding": rounding, "decimal_separator": ","}}]
    assert run(steps, Decimal(value)) == expected


def test_decimal_format_defaults_to_two_places_half_up() -> None:
    assert run(["decimal_format"], Decimal("1.005")) == "1.01"
    assert run(["decimal_format"], Decimal("3")) == "3.00"


def test_decimal_format_unknown_rounding() -> None:
    with pytest.raises(ValueError) as info:
        build_chain([{"decimal_format": {"rounding": "up"}}], "columns[1].transforms")
    assert str(info.value) == ("columns[1].transforms[0]: decimal_format: rounding must be one "
                               "of half_up, half_even, floor, down")


def test_datetime_format_converts_to_the_zone() -> None:
    dt = datetime(2026, 11, 28, 9, 15, tzinfo=PARIS)
    assert run([{"datetime_format": {"format": "%Y-%m-%d %H:%M", "timezone": "UTC"}}],
               dt) == "2026-11-28 08:15"
    assert run([{"datetime_format": {"format": "%d/%m/%Y %H:%M"}}], dt) == "28/11/2026 09:15"
    assert run([{"datetime_format": {"format": "%Y"}}], None) == ""


def test_parse_then_format_round_trip() -> None:
    parsed = run([{"datetime": {"format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"}}],
                 "28/07/2026 23:30")
    out = run([{"datetime_format": {"format": "%Y-%m-%dT%H:%M%z", "timezone": "UTC"}}], parsed)
    assert out == "2026-07-28T21:30+0000"


def test_unknown_transform_and_bad_step_shape() -> None:
    with pytest.raises(ValueError) as info:
        build_chain(["strip", "requird"], "fields.sku.transforms")
    assert str(info.value).startswith("fields.sku.transforms[1]: unknown transform 'requird' "
                                      "(known: boolean, concat, constant,")
    with pytest.raises(ValueError) as info:
        build_chain([{"strip": None, "upper": None}], "fields.sku.transforms")
    assert str(info.value).startswith("fields.sku.transforms[0]: a transform is a name or a "
                                      "one-key table")


def test_memo_gives_the_same_result_and_the_same_failure_every_time() -> None:
    memo = Memo(build_chain(["strip", FR_DECIMAL], "k"))
    assert memo(" 1 234,5 ") == Decimal("1234.5")
    assert memo(" 1 234,5 ") == Decimal("1234.5")
    assert len(memo.cache) == 1
    for _ in range(2):
        with pytest.raises(TransformError) as info:
            memo("x")
        assert str(info.value) == "not a number"
    assert len(memo.cache) == 2


def test_memo_is_bounded() -> None:
    memo = Memo(build_chain(["integer"], "k"), limit=3)
    assert [memo(str(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    assert len(memo.cache) <= 3


def bad_step(step: Any, key: str = "fields.x.transforms") -> str:
    """The load-time message of a step with a bad option."""
    with pytest.raises(ValueError) as info:
        build_chain(["strip", step], key)
    return str(info.value)


def refused(steps: list[Any], value: Any) -> str:
    with pytest.raises(TransformError) as info:
        run(steps, value)
    return str(info.value)


# -- text transforms on list and localized values

def test_text_transforms_apply_to_each_element() -> None:
    assert run(["strip", "upper"], (" a ", "b ")) == ("A", "B")
    assert run(["lower"], ["A", "B"]) == ("a", "b")
    assert run(["strip"], {"fr": " Sac ", "en": "Bag "}) == {"fr": "Sac", "en": "Bag"}
    assert run(["strip"], Decimal("1.0")) == Decimal("1.0")
    assert bad_step({"strip": {"all": True}}) == (
        "fields.x.transforms[1]: strip: unknown option 'all' (known: none)")


def test_required_refuses_an_empty_list() -> None:
    assert refused(["required"], ()) == "value is required"
    assert run(["required"], ("3",)) == ("3",)


def test_truncate() -> None:
    steps = [{"truncate": {"length": 5}}]
    assert run(steps, "Backpack") == "Backp"
    assert run(steps, "Bag") == "Bag"
    assert run(steps, ("Backpack", "Bag")) == ("Backp", "Bag")
    assert run(steps, {"fr": "Sac à dos"}) == {"fr": "Sac à"}
    assert run(steps, "") == "" and run(steps, None) is None
    assert bad_step({"truncate": {"length": 0}}) == (
        "fields.x.transforms[1]: truncate: length must be a whole number >= 1, found 0")
    assert bad_step({"truncate": {}}) == (
        "fields.x.transforms[1]: truncate: missing option 'length'")


# -- boolean

def test_boolean_defaults() -> None:
    for text in ("1", "Y", "yes", "O", "oui", "TRUE", " on "):
        assert run(["boolean"], text) is True
    for text in ("0", "n", "No", "non", "false", "off"):
        assert run(["boolean"], text) is False
    assert run(["boolean"], True) is True and run(["boolean"], False) is False
    assert run(["boolean"], "") == "" and run(["boolean"], None) is None


def test_boolean_with_own_values() -> None:
    steps = [{"boolean": {"true": ["1", "Y", "O", "yes"], "false": ["0", "N", "no"]}}]
    assert run(steps, "o") is True and run(steps, "NO") is False
    assert refused(steps, "oui") == (
        "not a boolean; accepted: 1, Y, O, yes (true), 0, N, no (false)")
    assert bad_step({"boolean": {"true": ["1", "Y"], "false": ["y"]}}) == (
        "fields.x.transforms[1]: boolean: 'y' is in both true and false")
    assert bad_step({"boolean": {"true": "1"}}) == (
        "fields.x.transforms[1]: boolean: true must be a list of texts, found '1'")


# -- value_map

def test_value_map() -> None:
    steps = [{"value_map": {"map": {"A": "1", "I": "0", "true": "yes"}}}]
    assert run(steps, "A") == "1" and run(steps, "I") == "0"
    assert run(steps, True) == "yes"  # compared by canonical text
    assert run(steps, ("A", "I")) == ("1", "0")
    assert run(steps, "") == "" and run(steps, None) is None
    assert refused(steps, "X") == "'X' is not in the value map (known: A, I, true)"
    assert run([{"value_map": {"map": {"A": True}, "default": False}}], "X") is False


def test_value_map_lists_only_the_first_keys() -> None:
    table = {f"K{i}": str(i) for i in range(20)}
    assert refused([{"value_map": {"map": table}}], "Z") == (
        "'Z' is not in the value map (known: K0, K1, K2, K3, K4, K5, K6, K7, … (20 in all))")


def test_value_map_can_map_the_empty_value() -> None:
    assert run([{"value_map": {"map": {"": "MAIN", "E": "EAST"}}}], "") == "MAIN"


def test_value_map_options() -> None:
    assert bad_step({"value_map": {"A": "1"}}) == (
        "fields.x.transforms[1]: value_map: unknown option 'A' (known: map, default)")
    assert bad_step({"value_map": {"map": {}}}).startswith(
        "fields.x.transforms[1]: value_map: map must be a table of code = value")


# -- lookup

def write_table(tmp_path: Path, text: str, name: str = "tax.csv", bom: bool = False) -> str:
    (tmp_path / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return name


LOOKUP = {"file": "tax.csv", "key": "erp_code", "value": "shop_tax_rule_id"}


@pytest.mark.parametrize(("text", "bom"), [
    ("erp_code,shop_tax_rule_id\nN20,1\nR10,2\n", False),
    ("erp_code;shop_tax_rule_id\r\nN20;1\r\n\r\nR10 ; 2\r\n", True),
])
def test_lookup_comma_or_semicolon_with_or_without_bom(tmp_path: Path, text: str, bom: bool
                                                        ) -> None:
    write_table(tmp_path, text, bom=bom)
    chain = build_chain([{"lookup": LOOKUP}], "k", base_dir=tmp_path)
    memo = Memo(chain)
    assert (memo("N20"), memo("R10"), memo("")) == ("1", "2", "")
    assert memo(("N20", "R10")) == ("1", "2")
    with pytest.raises(TransformError) as info:
        memo("X9")
    assert str(info.value) == "'X9' is not in tax.csv (column 'erp_code')"


def test_lookup_default_and_delimiter(tmp_path: Path) -> None:
    write_table(tmp_path, "erp_code|shop_tax_rule_id|note\nN20|1|a, b; c\n")
    steps = [{"lookup": {**LOOKUP, "delimiter": "|", "default": "0"}}]
    assert build_chain(steps, "k", base_dir=tmp_path)[0]("N20") == "1"
    assert build_chain(steps, "k", base_dir=tmp_path)[0]("Q") == "0"


@pytest.mark.parametrize(("text", "message"), [
    ("erp_code,rate\nN20,1\n",
     "column 'shop_tax_rule_id' is missing (columns: erp_code, rate)"),
    ("erp_code,shop_tax_rule_id\nN20,1\nR10,2\nN20,3\n", ":4: duplicate erp_code 'N20'"),
    ("erp_code,shop_tax_rule_id\nN20\n", ":2: expected 2 fields, found 1"),
    ("", "the first line must name the columns"),
])
def test_lookup_table_errors_at_load(tmp_path: Path, text: str, message: str) -> None:
    write_table(tmp_path, text)
    with pytest.raises(ValueError) as info:
        build_chain([{"lookup": LOOKUP}], "fields.tax_class.transforms", base_dir=tmp_path)
    assert str(info.value).startswith(
        f"fields.tax_class.transforms[0]: lookup: {tmp_path / 'tax.csv'}")
    assert str(info.value).endswith(message)


def test_lookup_missing_file_and_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        build_chain([{"lookup": LOOKUP}], "k", base_dir=tmp_path)
    assert str(info.value) == f"k[0]: lookup: lookup file {tmp_path / 'tax.csv'} not found"
    assert bad_step({"lookup": {"file": "tax.csv", "key": "erp_code"}}) == (
        "fields.x.transforms[1]: lookup: missing option 'value'")
    assert bad_step({"lookup": {**LOOKUP, "delimiter": ";;"}}) == (
        "fields.x.transforms[1]: lookup: delimiter must be one character, found ';;'")


def test_shipped_lookup_tables() -> None:
    lookups = resource_dir("mappings") / "lookups"
    tax = read_lookup(lookups / "erp_tax_to_prestashop.csv", "erp_tax_code",
                      "prestashop_tax_rules_id")
    assert tax["N20"] == "1" and tax["Z0"] == "0"
    families = read_lookup(lookups / "erp_family_to_category.csv", "erp_family", "category_id")
    assert families["FAM01"] == "3"


MAPPING_WITH_LOOKUP = """\
[mapping]
direction = "read"
document = "catalogue"
format = "csv"

[fields.sku]
column = "ART"

[fields.tax_class]
column = "TVA"
transforms = ["strip", { lookup = { file = "lookups/tax.csv", key = "erp_code", value = "shop_tax_rule_id" } }]
"""


def test_mapping_finds_its_lookup_next_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    (tmp_path / "lookups").mkdir()
    write_table(tmp_path / "lookups", "erp_code;shop_tax_rule_id\nN20;1\n")
    path = tmp_path / "partner.toml"
    path.write_text(MAPPING_WITH_LOOKUP, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "lookups")  # not the mapping's folder
    m = load_mapping_file(path)
    value: Any = " N20 "
    for fn in m.fields[1].chain:
        value = fn(value)
    assert value == "1"


def test_mapping_reports_a_missing_lookup_and_an_unknown_transform(tmp_path: Path) -> None:
    path = tmp_path / "partner.toml"
    path.write_text(MAPPING_WITH_LOOKUP, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert str(info.value) == (f"{path}: fields.tax_class.transforms[1]: lookup: lookup file "
                               f"{tmp_path / 'lookups' / 'tax.csv'} not found")
    path.write_text(MAPPING_WITH_LOOKUP.replace('"strip"', '"stripp"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mapping_file(path)
    assert info.value.file == str(path)
    assert str(info.value).startswith(f"{path}: fields.tax_class.transforms[0]: unknown "
                                      "transform 'stripp'")


# -- concat, split, join, join_paths

def test_concat() -> None:
    assert run(["concat"], ("Sac", "", "bleu")) == "Sac bleu"
    assert run([{"concat": {"separator": "-", "skip_empty": False}}], ("A", "", 1)) == "A--1"
    assert run(["concat"], "single") == "single"
    assert run(["concat"], None) is None


def test_split() -> None:
    assert run(["split"], " 3, 7,,9 ") == ("3", "7", "9")
    assert run([{"split": {"separator": "|", "strip": False, "skip_empty": False}}],
               "a | b||") == ("a ", " b", "", "")
    assert run(["split"], ("3", "7")) == ("3", "7")
    assert run(["split"], "") == "" and run(["split"], None) is None
    assert bad_step({"split": {"separator": ""}}) == (
        "fields.x.transforms[1]: split: separator must not be empty")
    assert bad_step({"split": {"strip": "yes"}}) == (
        "fields.x.transforms[1]: split: strip must be true or false, found 'yes'")


def test_join() -> None:
    assert run(["join"], ("3", "7", "")) == "3,7"
    assert run([{"join": {"separator": "|"}}], [Decimal("1.5"), True]) == "1.5|true"
    assert run(["join"], "3") == "3" and run(["join"], None) is None


def test_join_paths() -> None:
    paths = (("Gear", "Bags"), ("Sale",))
    assert run(["join_paths"], paths) == "Gear > Bags, Sale"
    magento = {"join_paths": {"separator": "/", "between": ",", "prefix": "Default Category"}}
    assert run([magento], (("Gear", "Bags"),)) == "Default Category/Gear/Bags"
    assert run([magento], (("Gear", "Bags"), ("Sale",), ())) == (
        "Default Category/Gear/Bags,Default Category/Sale")
    assert run(["join_paths"], {"fr": (("Sacs",),), "en": (("Bags",),)}) == {
        "fr": "Sacs", "en": "Bags"}
    assert run(["join_paths"], ()) == "" and run(["join_paths"], None) is None


# -- regex and when

def test_regex() -> None:
    steps = [{"regex": {"pattern": r"^(\d+)", "group": 1}}]
    assert run(steps, "123 - Bags") == "123"
    assert refused(steps, "Bags") == r"does not match '^(\\d+)'"
    assert run(steps, "") == ""
    assert run([{"regex": {"pattern": r"^(\d+)", "default": "0"}}], "Bags") == "0"
    assert run([{"regex": {"pattern": r"-(?P<size>[SML])$", "group": "size"}}], "T-M") == "M"
    assert run([{"regex": {"pattern": r"[A-Z]+"}}], "12AB3") == "AB"  # no group: the match


def test_regex_options_checked_at_load() -> None:
    assert bad_step({"regex": {"pattern": "(unclosed"}}).startswith(
        "fields.x.transforms[1]: regex: bad pattern '(unclosed': missing ), unterminated")
    assert bad_step({"regex": {"pattern": r"(\d)", "group": 2}}) == (
        "fields.x.transforms[1]: regex: group must be 0 to 1 or a group name, found 2")
    assert bad_step({"regex": {}}) == "fields.x.transforms[1]: regex: missing option 'pattern'"


def test_when_replaces_or_keeps() -> None:
    assert run([{"when": {"equals": "X", "then": "Y"}}], "X") == "Y"
    assert run([{"when": {"equals": "X", "then": "Y"}}], "Z") == "Z"
    assert run([{"when": {"in": ["A", "B"], "then": True, "else": False}}], "B") is True
    assert run([{"when": {"in": ["A", "B"], "then": True, "else": False}}], "C") is False
    assert run([{"when": {"matches": "^TMP-", "then": ""}}], "TMP-12") == ""
    assert run([{"when": {"empty": True, "then": "MAIN"}}], None) == "MAIN"
    assert run([{"when": {"empty": False, "then": "set"}}], "") == ""
    assert run([{"when": {"equals": True, "then": "1"}}], True) == "1"  # by canonical text
    assert run([{"when": {"equals": 0, "else": "nonzero"}}], Decimal("0")) == Decimal("0")


def test_when_then_error_refuses() -> None:
    steps = [{"when": {"in": ["OBS", "DEL"], "then_error": "product is obsolete"}}]
    assert run(steps, "ACT") == "ACT"
    assert refused(steps, "OBS") == "product is obsolete"


@pytest.mark.parametrize(("options", "message"), [
    ({"then": "Y"}, "give exactly one condition: equals, in, matches or empty"),
    ({"equals": "X", "in": ["X"], "then": "Y"},
     "give exactly one condition: equals, in, matches or empty"),
    ({"equals": "X"}, "give then, else or then_error"),
    ({"equals": "X", "then": "Y", "then_error": "no"}, "give then or then_error, not both"),
    ({"in": "X", "then": "Y"}, "in must be a list, found 'X'"),
    ({"matches": "[", "then": "Y"},
     "bad pattern '[': unterminated character set at position 0"),
    ({"empty": "yes", "then": "Y"}, "empty must be true or false, found 'yes'"),
    ({"equal": "X", "then": "Y"}, "unknown option 'equal' (known: equals, in, matches, empty, "
                                  "then, else, then_error)"),
])
def test_when_options_checked_at_load(options: dict[str, Any], message: str) -> None:
    assert bad_step({"when": options}) == f"fields.x.transforms[1]: when: {message}"


# -- gtin

@pytest.mark.parametrize("code", ["4006381333931", "96385074", "036000291452",
                                  "10614141000415", "0000000000000"])
def test_gtin_accepts_valid_codes(code: str) -> None:
    assert run(["gtin"], code) == code


def test_gtin_refuses() -> None:
    assert refused(["gtin"], "4006381333933") == (
        "EAN/GTIN check digit is wrong: expected 1, found 3")
    for bad in ("4006381", "40063813339", "400638133393A", "123456789012345",
                "４００６３８１３３３９３１"):  # full-width: not ASCII digits
        assert refused(["gtin"], bad) == "not an EAN/GTIN: 8, 12, 13 or 14 digits expected"
    assert run(["gtin"], "") == "" and run(["gtin"], None) is None
    assert refused(["gtin", "required"], "") == "value is required"


# -- decimal with implied decimals, date, date_format

@pytest.mark.parametrize(("text", "expected"), [
    ("000012345", "123.45"), ("-000012345", "-123.45"), ("+000012345", "123.45"),
    ("000012345-", "-123.45"), ("000012300", "123.00"), ("000000000", "0.00"),
    ("000000000-", "0.00"), ("5", "0.05"),
])
def test_decimal_implied_decimals(text: str, expected: str) -> None:
    result = run([{"decimal": {"implied_decimals": 2}}], text)
    assert str(result) == expected


def test_decimal_implied_decimals_refuses_and_checks_options() -> None:
    steps = [{"decimal": {"implied_decimals": 2}}]
    message = "expected digits with 2 implied decimals, e.g. 000012345"
    for bad in ("123.45", "-123-", "12 3", "-", "12a"):
        assert refused(steps, bad) == message
    assert run([{"decimal": {"implied_decimals": 3, "thousands_separator": " "}}],
               "1 234 567") == Decimal("1234.567")
    assert bad_step({"decimal": {"implied_decimals": -1}}) == (
        "fields.x.transforms[1]: decimal: implied_decimals must be a whole number >= 0, "
        "found -1")
    assert bad_step({"decimal": {"decimal_seperator": ","}}).startswith(
        "fields.x.transforms[1]: decimal: unknown option 'decimal_seperator'")


def test_date() -> None:
    steps = [{"date": {"format": "%d/%m/%Y"}}]
    result = run(steps, "28/11/2026")
    assert type(result) is date and result == date(2026, 11, 28)
    assert run(["date"], "2026-11-28") == date(2026, 11, 28)
    assert run(steps, "") == "" and run(steps, None) is None
    assert run(steps, datetime(2026, 11, 28, 9, 15, tzinfo=PARIS)) == date(2026, 11, 28)
    assert refused(steps, "31/11/2026") == "not a date in the form '%d/%m/%Y'"


def test_date_format() -> None:
    steps = [{"date_format": {"format": "%d/%m/%Y"}}]
    assert run(steps, date(2026, 11, 28)) == "28/11/2026"
    assert run(steps, datetime(2026, 11, 28, 23, 30, tzinfo=UTC)) == "28/11/2026"
    in_paris = [{"date_format": {"format": "%Y-%m-%d", "timezone": "Europe/Paris"}}]
    assert run(in_paris, datetime(2026, 11, 28, 23, 30, tzinfo=UTC)) == "2026-11-29"
    assert run(["date_format"], "2026-11-28") == "2026-11-28"
    assert run(steps, None) == ""
    assert refused(steps, "28/11/2026") == "not a date"
    assert refused(steps, Decimal(1)) == "not a date"
    assert bad_step({"date_format": {"timezone": "Mars/Olympus"}}) == (
        "fields.x.transforms[1]: date_format: unknown time zone 'Mars/Olympus'")


def test_every_transform_builds_from_its_bare_name_or_says_what_it_needs() -> None:
    needs = {"truncate": "missing option 'length'", "value_map": "missing option 'map'",
             "lookup": "missing option 'file'", "regex": "missing option 'pattern'",
             "when": "give exactly one condition", "datetime": "datetime needs a format",
             "datetime_format": "datetime_format needs a format", "default": "",
             "constant": ""}
    for name in REGISTRY:
        if name in needs:
            continue
        assert len(build_chain([name], "k")) == 1
    for name, message in needs.items():
        if message:
            with pytest.raises(ValueError, match=message):
                build_chain([name], "k")
