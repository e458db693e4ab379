"""gateway.toml loading: every error names the file and the key path of the bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Config, load
from gateway.errors import ConfigError
from gateway.model import Direction, SettleMode

BASE = """\
[gateway]
workspace = "."
poll_interval = "50ms"

[endpoints.erp_in]
path = "inbox/erp"

[endpoints.erp_out]
path = "outbox/erp"

[channels.erp_stock_in]
direction = "in"
endpoint = "erp_in"
pattern = "*.csv"
document = "stock"
mapping = "erp_stock_csv"
ack_endpoint = "erp_out"
"""

WRITE_MAPPING = """\
[mapping]
direction = "write"
document = "stock"
format = "csv"

[[columns]]
header = "SKU"
field = "sku"
"""


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value


def test_valid_config_loads_with_defaults_and_resolved_paths(tmp_path: Path) -> None:
    cfg = load(write_config(tmp_path, BASE + 'settle = "move"\nmin_age = "1.5s"\n'
                                             'max_size = "20MB"\n'))
    assert isinstance(cfg, Config)
    assert cfg.path == tmp_path / "gateway.toml"
    assert cfg.workspace == tmp_path
    assert cfg.poll_interval == 0.05
    assert cfg.batch_size == 200
    assert sorted(cfg.endpoints) == ["erp_in", "erp_out"]
    assert cfg.endpoints["erp_in"].path == tmp_path / "inbox/erp"
    assert cfg.endpoints["erp_in"].type == "local"
    ch = cfg.channel("erp_stock_in")
    assert ch.direction is Direction.IN
    assert ch.settle is SettleMode.MOVE
    assert ch.pattern == "*.csv"
    assert ch.ack_endpoint == "erp_out"
    assert ch.min_age == 1.5
    assert ch.empty_grace == 300.0
    assert ch.max_size == 20 * 1024**2
    assert ch.done_suffix is None
    assert cfg.inputs() == [ch]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as info:
        load(missing)
    assert str(info.value) == f"{missing}: configuration file not found"
    assert info.value.file == str(missing)
    assert info.value.exit_code == 2


def test_invalid_toml_names_the_file_and_position(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE + "settle = \n")
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: not valid TOML: "
                        "Invalid value (at line 18, column 10)")
    assert err.key is None


def test_missing_required_key(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('document = "stock"\n', ""))
    assert err.key == "channels.erp_stock_in.document"
    assert err.file == str(tmp_path / "gateway.toml")
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: channels.erp_stock_in.document: "
                        "missing required key")


def test_missing_endpoints_table(tmp_path: Path) -> None:
    err = config_error(tmp_path, '[gateway]\nworkspace = "."\n')
    assert err.key == "endpoints"
    assert str(err).endswith("endpoints: missing required key")


def test_unknown_key_in_channel(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE + 'colour = "red"\n')
    assert err.key == "channels.erp_stock_in.colour"
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: channels.erp_stock_in.colour: "
                        "unknown key 'colour'")
    assert err.hint is not None and "settle" in err.hint


def test_unknown_top_level_table(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE + "[extra]\n")
    assert err.key == "extra"
    assert str(err).endswith(": extra: unknown key 'extra'")


def test_wrong_type(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE + "accept_partial = 1\n")
    assert err.key == "channels.erp_stock_in.accept_partial"
    assert str(err).endswith("channels.erp_stock_in.accept_partial: expected bool, found int 1")


def test_bool_is_not_accepted_as_an_int(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('[gateway]\n', '[gateway]\nbatch_size = true\n'))
    assert err.key == "gateway.batch_size"
    assert str(err).endswith("gateway.batch_size: expected int, found bool True")


def test_unknown_endpoint_referenced_by_channel(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('endpoint = "erp_in"', 'endpoint = "ftp_in"'))
    assert err.key == "channels.erp_stock_in.endpoint"
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: channels.erp_stock_in.endpoint: "
                        "no endpoint named 'ftp_in'")
    assert err.hint == "declare it under [endpoints.ftp_in]"


def test_unknown_ack_endpoint(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('ack_endpoint = "erp_out"',
                                              'ack_endpoint = "erp_back"'))
    assert err.key == "channels.erp_stock_in.ack_endpoint"
    assert str(err).endswith("no endpoint named 'erp_back'")


@pytest.mark.parametrize("value", ['"5 parsecs"', '"5x"', '"-1s"', '""'])
def test_bad_duration(tmp_path: Path, value: str) -> None:
    err = config_error(tmp_path, BASE + f"min_age = {value}\n")
    assert err.key == "channels.erp_stock_in.min_age"
    assert "is not a duration" in str(err)
    assert str(err).startswith(f"{tmp_path / 'gateway.toml'}: channels.erp_stock_in.min_age: ")


def test_bad_gateway_default_duration_names_the_gateway_key(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('[gateway]\n', '[gateway]\nmin_age = "soon"\n'))
    assert err.key == "gateway.min_age"
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: gateway.min_age: "
                        "'soon' is not a duration")


@pytest.mark.parametrize(("text", "seconds"), [
    ('"250ms"', 0.25), ('"5s"', 5.0), ('"2m"', 120.0), ('"1h"', 3600.0), ('"1d"', 86400.0),
    ('"7"', 7.0), ("3", 3.0), ("0.5", 0.5),
])
def test_durations(tmp_path: Path, text: str, seconds: float) -> None:
    cfg = load(write_config(tmp_path, BASE + f"empty_grace = {text}\n"))
    assert cfg.channels["erp_stock_in"].empty_grace == seconds


def test_bad_settle_value(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE + 'settle = "shred"\n')
    assert err.key == "channels.erp_stock_in.settle"
    assert str(err).endswith("channels.erp_stock_in.settle: 'shred' is not one of "
                             "'delete', 'move'")


def test_bad_direction_value(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('direction = "in"', 'direction = "sideways"'))
    assert err.key == "channels.erp_stock_in.direction"
    assert str(err).endswith("channels.erp_stock_in.direction: 'sideways' is not one of "
                             "'in', 'out'")


def test_env_interpolation_with_value_and_default(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_DROP", "drops")
    monkeypatch.delenv("GW_TEST_SUB", raising=False)
    cfg = load(write_config(tmp_path, BASE.replace(
        'path = "inbox/erp"', 'path = "${GW_TEST_DROP}/${GW_TEST_SUB:-erp}/in"')))
    assert cfg.endpoints["erp_in"].path == tmp_path / "drops/erp/in"


def test_env_interpolation_set_value_wins_over_default(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_SUB", "special")
    cfg = load(write_config(tmp_path, BASE.replace('path = "inbox/erp"',
                                                   'path = "${GW_TEST_SUB:-erp}"')))
    assert cfg.endpoints["erp_in"].path == tmp_path / "special"


def test_env_default_used_when_variable_is_empty(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # ${VAR:-default} has shell semantics: unset *or empty* takes the default
    monkeypatch.setenv("GW_TEST_SUB", "")
    cfg = load(write_config(tmp_path, BASE.replace('path = "inbox/erp"',
                                                   'path = "x/${GW_TEST_SUB:-erp}"')))
    assert cfg.endpoints["erp_in"].path == tmp_path / "x/erp"


def test_env_interpolation_feeds_typed_values(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_AGE", "750ms")
    cfg = load(write_config(tmp_path, BASE + 'min_age = "${GW_TEST_AGE}"\n'))
    assert cfg.channels["erp_stock_in"].min_age == 0.75


def test_unset_env_variable_names_the_variable_and_key(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_UNSET", raising=False)
    err = config_error(tmp_path, BASE.replace('path = "inbox/erp"',
                                              'path = "${GW_TEST_UNSET}/erp"'))
    assert err.key == "endpoints.erp_in.path"
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: endpoints.erp_in.path: "
                        "environment variable GW_TEST_UNSET is not set")
    assert err.hint == "export GW_TEST_UNSET=… before starting the gateway"


def test_channel_with_mapping_of_wrong_direction_is_refused(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('direction = "in"', 'direction = "out"'))
    assert err.key == "channels.erp_stock_in.mapping"
    assert str(err).endswith("channels.erp_stock_in.mapping: mapping 'erp_stock_csv' is a "
                             "read mapping; an out channel needs a write mapping")


def test_in_channel_with_a_write_mapping_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "my_writer.toml").write_text(WRITE_MAPPING, encoding="utf-8")
    err = config_error(tmp_path, BASE.replace('mapping = "erp_stock_csv"',
                                              'mapping = "my_writer"'))
    assert err.key == "channels.erp_stock_in.mapping"
    assert "mapping 'my_writer' is a write mapping; an in channel needs a read mapping" in str(err)


def test_channel_with_mapping_for_another_document_is_refused(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('document = "stock"', 'document = "orders"'))
    assert err.key == "channels.erp_stock_in.document"
    assert str(err).endswith("channels.erp_stock_in.document: mapping 'erp_stock_csv' is for "
                             "document 'stock', the channel carries 'orders'")


def test_unknown_mapping_name(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE.replace('mapping = "erp_stock_csv"', 'mapping = "nope"'))
    assert err.key == "channels.erp_stock_in.mapping"
    assert str(err).endswith("channels.erp_stock_in.mapping: mapping 'nope' not found")


def test_local_mappings_folder_is_searched_first(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "my_writer.toml").write_text(WRITE_MAPPING, encoding="utf-8")
    cfg = load(write_config(tmp_path, BASE + """
[channels.out]
direction = "out"
endpoint = "erp_out"
document = "stock"
mapping = "my_writer"
sources = ["erp_stock_in"]
"""))
    assert cfg.mappings_dirs[0] == tmp_path / "mappings"
    assert cfg.outputs_for("stock", "erp_stock_in") == [cfg.channels["out"]]
    assert cfg.outputs_for("stock", "other") == []


def test_unknown_source_channel(tmp_path: Path) -> None:
    err = config_error(tmp_path, BASE + 'sources = ["ghost"]\n')
    assert err.key == "channels.erp_stock_in.sources"
    assert str(err).endswith("no channel named 'ghost'")


def test_unknown_channel_lookup(tmp_path: Path) -> None:
    cfg = load(write_config(tmp_path, BASE))
    with pytest.raises(ConfigError) as info:
        cfg.channel("ghost")
    assert str(info.value) == "channels: no channel named 'ghost'"
    assert info.value.hint == "known channels: erp_stock_in"


def test_env_variable_set_to_empty_without_default_is_empty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_EMPTY", "")
    cfg = load(write_config(tmp_path, BASE.replace('path = "inbox/erp"',
                                                   'path = "in${GW_TEST_EMPTY}box"')))
    assert cfg.endpoints["erp_in"].path == tmp_path / "inbox"
