"""Write, then rename: temporary names until publish, nothing left behind on discard."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.store.atomic import DurableBatch, temp_name, write_atomic
from gateway.transports.readiness import is_temporary


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_temp_name_is_a_hidden_part_sibling(tmp_path: Path) -> None:
    t = temp_name(tmp_path / "out" / "stock.xml")
    assert t.parent == tmp_path / "out"
    assert re.fullmatch(r"\.stock\.xml\.[0-9a-f]{8}\.part", t.name)
    assert is_temporary(t.name)
    assert temp_name(tmp_path / "stock.xml") != temp_name(tmp_path / "stock.xml")


def test_batch_publishes_every_pair_at_once(tmp_path: Path) -> None:
    batch = DurableBatch()
    finals = [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]
    (tmp_path / "sub").mkdir()
    for i, final in enumerate(finals):
        tmp = temp_name(final)
        tmp.write_bytes(f"content {i}".encode())
        batch.add(tmp, final)
    assert len(batch) == 2
    batch.flush()
    assert not finals[0].exists() and not finals[1].exists()
    batch.publish()
    assert finals[0].read_bytes() == b"content 0"
    assert finals[1].read_bytes() == b"content 1"
    assert files(tmp_path) == ["a.txt", "sub"]
    assert files(tmp_path / "sub") == ["b.txt"]
    assert len(batch) == 0
    batch.publish()  # an empty batch is a no-op


def test_publish_replaces_an_existing_file(tmp_path: Path) -> None:
    final = tmp_path / "a.txt"
    final.write_bytes(b"old")
    tmp = temp_name(final)
    tmp.write_bytes(b"new")
    batch = DurableBatch()
    batch.add(tmp, final)
    batch.publish()
    assert final.read_bytes() == b"new"
    assert files(tmp_path) == ["a.txt"]


def test_discard_removes_temporary_files(tmp_path: Path) -> None:
    batch = DurableBatch()
    final = tmp_path / "a.txt"
    tmp = temp_name(final)
    tmp.write_bytes(b"abandoned")
    batch.add(tmp, final)
    batch.add(tmp_path / ".already-gone.part", tmp_path / "b.txt")
    batch.discard()
    assert files(tmp_path) == []
    assert len(batch) == 0
    batch.publish()
    assert files(tmp_path) == []


def test_write_atomic_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    final = tmp_path / "state" / "deep" / "x.json"
    write_atomic(final, b'{"a": 1}')
    assert final.read_bytes() == b'{"a": 1}'
    assert files(final.parent) == ["x.json"]
    write_atomic(final, b"{}")
    assert final.read_bytes() == b"{}"
    assert files(final.parent) == ["x.json"]
