"""Local drop folder: list, settle (delete / move), and stage + publish of outputs."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from gateway.model import SettleMode
from gateway.transports.local import LocalTransport
from gateway.transports.readiness import Entry, Readiness


@pytest.fixture
def drop(tmp_path: Path) -> LocalTransport:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return LocalTransport("erp_in", folder)


def test_list_gives_files_sorted_with_size_and_ignores_sub_folders(drop: LocalTransport
                                                                    ) -> None:
    (drop.path / "b.csv").write_bytes(b"12345")
    (drop.path / "a.csv").write_bytes(b"")
    (drop.path / "processed").mkdir()
    (drop.path / "processed" / "old.csv").write_bytes(b"old")
    (drop.path / "sub.csv").mkdir()
    os.utime(drop.path / "b.csv", (1_700_000_000, 1_700_000_000))
    assert drop.list() == [Entry("a.csv", 0, (drop.path / "a.csv").stat().st_mtime),
                           Entry("b.csv", 5, 1_700_000_000.0)]


def test_list_ignores_symlinks(drop: LocalTransport, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"x")
    (drop.path / "link.csv").symlink_to(outside)
    assert drop.list() == []


def test_list_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert LocalTransport("gone", tmp_path / "nowhere").list() == []


def test_open_and_stat(drop: LocalTransport) -> None:
    (drop.path / "a.csv").write_bytes(b"abc")
    with drop.open("a.csv") as fh:
        assert fh.read() == b"abc"
    st = drop.stat("a.csv")
    assert st is not None and (st.name, st.size) == ("a.csv", 3)
    assert drop.stat("missing.csv") is None


def test_settle_delete(drop: LocalTransport) -> None:
    (drop.path / "a.csv").write_bytes(b"abc")
    (drop.path / "b.csv").write_bytes(b"keep")
    drop.settle("a.csv", SettleMode.DELETE, tag="000001", done_suffix=None)
    assert sorted(p.name for p in drop.path.iterdir()) == ["b.csv"]


def test_settle_delete_removes_the_done_companion(drop: LocalTransport) -> None:
    (drop.path / "a.csv").write_bytes(b"abc")
    (drop.path / "a.csv.done").write_bytes(b"")
    drop.settle("a.csv", SettleMode.DELETE, tag="000001", done_suffix=".done")
    assert list(drop.path.iterdir()) == []


def test_settle_move_to_processed(drop: LocalTransport) -> None:
    (drop.path / "a.csv").write_bytes(b"first")
    drop.settle("a.csv", SettleMode.MOVE, tag="000001", done_suffix=None)
    assert not (drop.path / "a.csv").exists()
    assert (drop.path / "processed" / "a.csv").read_bytes() == b"first"
    assert [e.name for e in drop.list()] == []


def test_settle_move_name_collision_gets_the_tag_suffix(drop: LocalTransport) -> None:
    (drop.path / "a.csv").write_bytes(b"first")
    drop.settle("a.csv", SettleMode.MOVE, tag="000001", done_suffix=None)
    (drop.path / "a.csv").write_bytes(b"second")
    drop.settle("a.csv", SettleMode.MOVE, tag="000002", done_suffix=None)
    processed = drop.path / "processed"
    assert sorted(p.name for p in processed.iterdir()) == ["a.csv", "a.csv.000002"]
    assert (processed / "a.csv").read_bytes() == b"first"
    assert (processed / "a.csv.000002").read_bytes() == b"second"


@pytest.mark.parametrize("mode", [SettleMode.DELETE, SettleMode.MOVE])
def test_settle_of_an_already_gone_file_is_fine(drop: LocalTransport, mode: SettleMode
                                                ) -> None:
    (drop.path / "a.csv.done").write_bytes(b"")
    drop.settle("a.csv", mode, tag="000001", done_suffix=".done")
    drop.settle("a.csv", mode, tag="000001", done_suffix=".done")
    assert not (drop.path / "a.csv.done").exists()
    assert [p.name for p in drop.path.iterdir() if p.is_file()] == []


def test_stage_writes_a_hidden_part_file_and_publish_renames_it(drop: LocalTransport) -> None:
    out = LocalTransport("shop_out", drop.path.parent / "outbox" / "shop")  # created on stage
    data = b"Reference #;Quantity\nA-1;15\n"
    out.stage("stock_000001.csv", io.BytesIO(data), len(data))
    assert out.staged_path("stock_000001.csv") == out.path / ".stock_000001.csv.part"
    assert sorted(p.name for p in out.path.iterdir()) == [".stock_000001.csv.part"]
    assert out.is_staged("stock_000001.csv")
    assert not out.exists("stock_000001.csv")
    out.make_durable(["stock_000001.csv"])
    assert not out.exists("stock_000001.csv")
    out.publish(["stock_000001.csv"])
    assert sorted(p.name for p in out.path.iterdir()) == ["stock_000001.csv"]
    assert (out.path / "stock_000001.csv").read_bytes() == data
    assert not out.is_staged("stock_000001.csv")
    out.publish(["stock_000001.csv"])  # published already (a repeat after a crash): no-op
    assert (out.path / "stock_000001.csv").read_bytes() == data


def test_stage_of_a_large_stream_copies_every_chunk(drop: LocalTransport) -> None:
    data = bytes(range(256)) * 9000  # a little over 2 MiB: several chunks
    drop.stage("big.bin", io.BytesIO(data), len(data))
    drop.publish(["big.bin"])
    assert (drop.path / "big.bin").read_bytes() == data


def test_staged_file_is_invisible_to_pickup(drop: LocalTransport) -> None:
    drop.stage("a.csv", io.BytesIO(b"x"), 1)
    r = Readiness("*", min_age=0.0, empty_grace=0.0, clock=lambda: 0.0)
    assert r.observe(drop.list()) == []
    assert r.observe(drop.list()) == []
    drop.discard(["a.csv"])
    assert list(drop.path.iterdir()) == []
