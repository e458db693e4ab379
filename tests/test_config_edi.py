"""``[channels.NAME.edi]``: the partner's EDI ids and options, checked at start with the
key path; an EDI output without its ids does not start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import EdiSettings, load
from gateway.errors import ConfigError

BASE = """\
[endpoints.erp_in]
path = "inbox/erp"

[endpoints.edi_out]
path = "outbox/edi"

[channels.erp_status_in]
direction = "in"
endpoint = "erp_in"
document = "order_status"
mapping = "erp_order_status_csv"

[channels.buyer_ordrsp]
direction = "out"
endpoint = "edi_out"
document = "order_status"
mapping = "edifact_ordrsp_d96a"
"""

EDI = """
[channels.buyer_ordrsp.edi]
sender = "4012345000009"
recipient = "5412345000013"
"""

INBOUND = """
[channels.buyer_orders_in]
direction = "in"
endpoint = "erp_in"
document = "orders"
mapping = "edifact_orders_d96a"
ack_endpoint = "edi_out"

[channels.buyer_orders_in.edi]
sender = "5412345000013"
ack = "contrl"
aperak = true
tolerance = { counts = false }
"""


def load_text(tmp_path: Path, text: str) -> object:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert str(info.value).startswith(str(tmp_path / "gateway.toml") + ": ")
    return info.value


def test_edi_ids_and_options_are_kept_on_the_channel(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, BASE + EDI + 'sender_qualifier = "ZZZ"\nsyntax = "UNOY"\n'
                    'test = true\n' + INBOUND)
    out = cfg.channels["buyer_ordrsp"].edi  # type: ignore[attr-defined]
    assert out == EdiSettings(sender="4012345000009", recipient="5412345000013",
                              sender_qualifier="ZZZ", syntax="UNOY", test=True)
    inbound = cfg.channels["buyer_orders_in"].edi  # type: ignore[attr-defined]
    assert inbound == EdiSettings(sender="5412345000013", ack="contrl", aperak=True,
                                  tolerance=(("counts", False),))
    assert cfg.channels["erp_status_in"].edi is None  # type: ignore[attr-defined]


def test_an_edi_output_without_its_ids_does_not_start(tmp_path: Path) -> None:
    exc = error(tmp_path, BASE)
    assert "channels.buyer_ordrsp.edi: channel 'buyer_ordrsp' writes EDIFACT interchanges" \
        in str(exc)
    assert exc.hint and "[channels.buyer_ordrsp.edi]" in exc.hint
    exc = error(tmp_path, BASE + EDI.replace('recipient = "5412345000013"\n', ""))
    assert "channels.buyer_ordrsp.edi.recipient: missing required key" in str(exc)


@pytest.mark.parametrize(("extra", "want"), [
    ('syntax = "UNOZ"\n', "channels.buyer_ordrsp.edi.syntax: 'UNOZ' is not an EDIFACT "
     "syntax identifier"),
    ('ack = "contrl"\n', "channels.buyer_ordrsp.edi.ack: ack is for input channels"),
    ('test = "yes"\n', "channels.buyer_ordrsp.edi.test: expected bool"),
    ('partner = "x"\n', "channels.buyer_ordrsp.edi.partner: unknown key 'partner'"),
    ('sender_qualifier = " 14"\n', "channels.buyer_ordrsp.edi.sender_qualifier: ' 14': an "
     "id is a code without spaces around it"),
    ('recipient_qualifier = "14145"\n', "channels.buyer_ordrsp.edi.recipient_qualifier: "
     "'14145' is 5 characters: EDIFACT allows 4"),
])
def test_a_wrong_edi_option_names_its_key(tmp_path: Path, extra: str, want: str) -> None:
    assert want in str(error(tmp_path, BASE + EDI + extra))


@pytest.mark.parametrize(("extra", "want"), [
    ('ack = "997"\n', "channels.buyer_orders_in.edi.ack: '997' acknowledges X12 "
     "interchanges"),
    ('ack = "yes"\n', "channels.buyer_orders_in.edi.ack: 'yes' is not one of 'none', "
     "'contrl', '997'"),
    ("tolerance = { counts = 0 }\n", "channels.buyer_orders_in.edi.tolerance.counts: "
     "expected true or false"),
])
def test_inbound_acknowledgement_options_are_checked(tmp_path: Path, extra: str, want: str
                                                     ) -> None:
    inbound = INBOUND.replace('ack = "contrl"\naperak = true\ntolerance = { counts = false }'
                              '\n', extra)
    assert want in str(error(tmp_path, BASE + EDI + inbound))


@pytest.mark.parametrize("asked", ['ack = "contrl"', "aperak = true"])
def test_an_edi_acknowledgement_needs_somewhere_to_go(tmp_path: Path, asked: str) -> None:
    inbound = INBOUND.replace('ack_endpoint = "edi_out"\n', "").replace(
        'ack = "contrl"\naperak = true\n', asked + "\n")
    exc = error(tmp_path, BASE + EDI + inbound)
    key = asked.split()[0]
    assert (f"channels.buyer_orders_in.edi.{key}: {key} is sent to the channel's "
            "ack_endpoint, and it has none") in str(exc)
    assert exc.hint == 'add ack_endpoint = "…" to [channels.buyer_orders_in]'


def test_x12_ids_are_checked_against_the_isa(tmp_path: Path) -> None:
    x12 = BASE.replace("edifact_ordrsp_d96a", "x12_855") + EDI
    assert load_text(tmp_path, x12)
    exc = error(tmp_path, x12 + 'sender_qualifier = "ZZZ"\n')
    assert "channels.buyer_ordrsp.edi.sender_qualifier: 'ZZZ' is 3 characters: ISA05/ISA07 " \
        "are 2" in str(exc)
    exc = error(tmp_path, x12.replace('"5412345000013"', '"5412345000013-DEPOT"'))
    assert "edi.recipient: '5412345000013-DEPOT' is 19 characters: X12 allows 15" in str(exc)
    exc = error(tmp_path, x12 + 'syntax = "UNOC"\n')
    assert "edi.syntax: syntax is EDIFACT's character set identifier" in str(exc)


def test_an_edi_table_on_a_channel_that_writes_no_edi_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("edifact_ordrsp_d96a", "canonical_order_status_xml") + EDI
    assert "channels.buyer_ordrsp.edi: mapping 'canonical_order_status_xml' writes xml, " \
        "not EDIFACT or X12" in str(error(tmp_path, text))


def test_an_output_channel_takes_only_the_records_its_where_names(tmp_path: Path) -> None:
    ordrsp = BASE.replace('mapping = "edifact_ordrsp_d96a"\n',
                          'mapping = "edifact_ordrsp_d96a"\nwhere = { shop = "3012345000017" }\n')
    cfg = load_text(tmp_path, ordrsp + EDI)
    assert cfg.channels["buyer_ordrsp"].where == (("shop", "3012345000017"),)  # type: ignore[attr-defined]
    exc = error(tmp_path, ordrsp.replace("shop =", "buyer =") + EDI)
    assert ("channels.buyer_ordrsp.where.buyer: document 'order_status' has no "
            "single-valued field 'buyer'") in str(exc)
    exc = error(tmp_path, BASE.replace('mapping = "erp_order_status_csv"\n',
                                       'mapping = "erp_order_status_csv"\nwhere = { shop = "x" }\n')
                + EDI)
    assert "channels.erp_status_in.where: where is a table of field = value, for output " \
        "channels" in str(exc)
